"""Entry point for commands that are not built yet: say so and exit 2."""

import os
import sys


def main() -> int:
    name = os.path.basename(sys.argv[0]) if sys.argv else "command"
    print(f"{name}: not implemented yet", file=sys.stderr)
    return 2
