"""Placeholder entry point until this command is built."""

import sys

from sysmasterd.cli.notimpl import main

if __name__ == "__main__":
    sys.exit(main())
