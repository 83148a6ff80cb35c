"""Load the compiled rules through udev_rules_translator and wrap them for execution."""

import logging

from sysmasterd.devmaster.rules.executor import RuleExecutor
from udev_rules_translator import DEFAULT_CACHE_PATH, ResolveNames
from udev_rules_translator import load_rules as translate

log = logging.getLogger("devmaster")


def load_rules(dirs: list[str] | None, resolve_names: str = "early",
               cache_path: str | None = DEFAULT_CACHE_PATH) -> RuleExecutor:
    loaded = translate(dirs or None, cache_path=cache_path, resolve_names=ResolveNames(resolve_names))
    for diag in loaded.diagnostics:
        log.warning("%s", diag)
    log.debug("loaded %d rule lines (%s)", len(loaded.rules), "cache" if loaded.from_cache else "compiled")
    return RuleExecutor(loaded.rules, loaded=loaded)
