"""Init's messages: one line each on stderr, which is the console when init is PID 1."""

import os
import sys


def log(message: str) -> None:
    try:
        sys.stderr.write(f"sysmaster-init[{os.getpid()}]: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # no console is no reason for PID 1 to die
