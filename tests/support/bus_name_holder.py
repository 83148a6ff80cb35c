"""A D-Bus service for tests: `bus_name_holder.py NAME [DELAY]` connects to the session bus of
$DBUS_SESSION_BUS_ADDRESS, takes NAME after DELAY seconds (never, if DELAY is negative), and gives
it up on SIGUSR1, then idles."""

import asyncio
import os
import signal
import sys

from dbus_fast.aio import MessageBus


async def main() -> None:
    name = sys.argv[1]
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    bus = await MessageBus(bus_address=os.environ["DBUS_SESSION_BUS_ADDRESS"]).connect()
    released = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, released.set)
    if delay >= 0:
        await asyncio.sleep(delay)
        await bus.request_name(name)
        await released.wait()
        await bus.release_name(name)
    await asyncio.sleep(1000)


asyncio.run(main())
