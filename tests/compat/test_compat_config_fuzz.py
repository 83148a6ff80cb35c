"""Random values for every directive systemd knows, for every unit type: build_config never raises."""

from __future__ import annotations

from compat_helpers import FACTS
from hypothesis import given, settings
from hypothesis import strategies as st

from compat import directives
from compat.config import TYPE_SECTION, build_config
from compat.model import UnitKind
from compat.syntax import Assignment

VALUE_ALPHABET = [*"abc019 -_./:@%$\\\"'|!;=+~*\t", "%i", "%n", "infinity", "yes", "SIGKILL", "\\x41"]
SECTIONS = sorted(directives.SECTIONS)


@st.composite
def assignments(draw: st.DrawFn) -> list[Assignment]:
    result = []
    for i in range(draw(st.integers(1, 12))):
        section = draw(st.sampled_from(SECTIONS))
        key = draw(st.sampled_from(sorted(directives.SECTIONS[section])))
        value = "".join(draw(st.lists(st.sampled_from(VALUE_ALPHABET), max_size=12)))
        result.append(Assignment(section, key, value, "f.service", i + 1))
    return result


@settings(max_examples=400, deadline=None)
@given(assignments(), st.sampled_from([k for k in UnitKind if TYPE_SECTION[k] or k is UnitKind.TARGET]))
def test_build_config_never_raises(items: list[Assignment], kind: UnitKind) -> None:
    name = f"x@i.{kind.value}"
    result = build_config(name, kind, items, FACTS, "/f")
    assert result.config.name == name
    assert all(d.line >= 0 for d in result.diagnostics)
