"""The lines an event skips unread (KERNEL prefixes looked up by name, literal ENV matches checked
on arrays) are exactly those whose matches fail: the outcome is the full walk's."""

from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import EventSettings, UdevEvent
from sysmasterd.devmaster.rules.candidates import env_literal, kernel_prefix
from sysmasterd.devmaster.rules.executor import RuleExecutor
from udev_rules_translator.compiler import compile_text, link
from udev_rules_translator.model import ResolveNames

RULES = r"""
SUBSYSTEM=="net", ENV{STEP}="one"
SUBSYSTEM=="net", ENV{STEP}=="one", ENV{SEEN_STEP}="yes"
ENV{STEP}=="two", ENV{WRONG_STEP}="yes"
KERNEL=="l*", ENV{PREFIX}="yes"
KERNEL=="lo", ENV{EXACT}="yes"
KERNEL=="lox*", ENV{LONGER}="yes"
KERNEL=="x*", ENV{OTHER}="yes"
KERNEL=="l\o", ENV{ESCAPED_PLAIN}="yes"
KERNEL=="l\*", ENV{ESCAPED_GLOB}="yes"
KERNEL=="lo", GOTO="end"
KERNEL=="l*", ENV{JUMPED_OVER}="yes"
ENV{STEP}=="one", ENV{JUMPED_OVER_TOO}="yes"
LABEL="end"
KERNEL=="l?", ENV{AFTER}="yes"
KERNEL!="x*", ENV{UNEQUAL}="yes"
"""


def run_rules(text: str) -> dict[str, str]:
    rules = link([compile_text("/t.rules", text.encode())], (), ResolveNames.EARLY)
    event = UdevEvent(Device.from_syspath("/sys/class/net/lo"), EventSettings())
    event.dev.properties["ACTION"] = "change"
    RuleExecutor(rules).apply(event)
    return {k: v for k, v in event.dev.properties.items() if v == "yes"}


def test_skipped_lines_are_the_failing_ones() -> None:
    assert sorted(run_rules(RULES)) == ["AFTER", "EXACT", "PREFIX", "SEEN_STEP", "UNEQUAL"]


def test_what_the_prefilters_read_of_a_line() -> None:
    lines = link([compile_text("/t.rules", RULES.encode())], (), ResolveNames.EARLY).lines
    assert [kernel_prefix(line) for line in lines] == [
        "", "", "", "l", "lo", "lox", "x", "l", "l", "lo", "l", "", "", "l", ""]
    assert [env_literal(line) for line in lines][:4] == [None, ("STEP", "one"), ("STEP", "two"), None]


def test_a_skipped_line_leaves_the_property_order_as_the_full_walk_does() -> None:
    # TAG+= leaves TAGS to be listed where properties are next read: a line whose KERNEL key
    # fails reads none in udevd, so its literal ENV match must not either (order as before)
    rules = ('KERNEL=="lo", TAG+="t1"\n'
             'KERNEL!="lo", ENV{ANY}=="1", ENV{NEVER}="1"\n'
             'KERNEL=="lo", ENV{LATER}="1"\n')
    compiled = link([compile_text("/t.rules", rules.encode())], (), ResolveNames.EARLY)
    event = UdevEvent(Device.from_syspath("/sys/class/net/lo"), EventSettings())
    event.dev.properties["ACTION"] = "change"
    RuleExecutor(compiled).apply(event)
    order = list(event.dev.all_properties())
    assert order.index("LATER") < order.index("TAGS"), order
