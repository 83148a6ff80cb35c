import sys
from pathlib import Path

# The harnesses of the other suites, which the smoke tests reuse.
for suite in ("bus", "recovery", "devmaster"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / suite))
