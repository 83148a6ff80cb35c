from collections.abc import Iterator

import pytest
from dm_sandbox import Sandbox, sandbox


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with sandbox() as b:
        yield b
