"""devmaster framework: uevent sockets, queue, workers, control socket, broadcast, database."""
