"""Dependency kinds between units and their inverses, as systemd keeps them on both ends."""

from __future__ import annotations

import enum


class Dep(enum.Enum):
    REQUIRES = "Requires"
    REQUISITE = "Requisite"
    WANTS = "Wants"
    BINDS_TO = "BindsTo"
    PART_OF = "PartOf"
    UPHOLDS = "Upholds"
    REQUIRED_BY = "RequiredBy"
    REQUISITE_OF = "RequisiteOf"
    WANTED_BY = "WantedBy"
    BOUND_BY = "BoundBy"
    UPHELD_BY = "UpheldBy"
    CONSISTS_OF = "ConsistsOf"
    CONFLICTS = "Conflicts"
    CONFLICTED_BY = "ConflictedBy"
    BEFORE = "Before"
    AFTER = "After"
    ON_FAILURE = "OnFailure"
    ON_FAILURE_OF = "OnFailureOf"
    ON_SUCCESS = "OnSuccess"
    ON_SUCCESS_OF = "OnSuccessOf"
    TRIGGERS = "Triggers"
    TRIGGERED_BY = "TriggeredBy"
    PROPAGATES_RELOAD_TO = "PropagatesReloadTo"
    RELOAD_PROPAGATED_FROM = "ReloadPropagatedFrom"
    PROPAGATES_STOP_TO = "PropagatesStopTo"
    STOP_PROPAGATED_FROM = "StopPropagatedFrom"
    JOINS_NAMESPACE_OF = "JoinsNamespaceOf"
    REFERENCES = "References"
    REFERENCED_BY = "ReferencedBy"

    # Members are singletons compared by identity; Enum's own name-based __hash__ runs in Python,
    # and dependency sets are keyed by Dep tens of thousands of times while units load.
    __hash__ = object.__hash__

    @property
    def inverse(self) -> Dep:
        return _INVERSE[self]


_PAIRS = [
    (Dep.REQUIRES, Dep.REQUIRED_BY),
    (Dep.REQUISITE, Dep.REQUISITE_OF),
    (Dep.WANTS, Dep.WANTED_BY),
    (Dep.BINDS_TO, Dep.BOUND_BY),
    (Dep.PART_OF, Dep.CONSISTS_OF),
    (Dep.UPHOLDS, Dep.UPHELD_BY),
    (Dep.CONFLICTS, Dep.CONFLICTED_BY),
    (Dep.BEFORE, Dep.AFTER),
    (Dep.ON_FAILURE, Dep.ON_FAILURE_OF),
    (Dep.ON_SUCCESS, Dep.ON_SUCCESS_OF),
    (Dep.TRIGGERS, Dep.TRIGGERED_BY),
    (Dep.PROPAGATES_RELOAD_TO, Dep.RELOAD_PROPAGATED_FROM),
    (Dep.PROPAGATES_STOP_TO, Dep.STOP_PROPAGATED_FROM),
    (Dep.REFERENCES, Dep.REFERENCED_BY),
]
_INVERSE: dict[Dep, Dep] = {Dep.JOINS_NAMESPACE_OF: Dep.JOINS_NAMESPACE_OF}
for _a, _b in _PAIRS:
    _INVERSE[_a] = _b
    _INVERSE[_b] = _a

# The [Unit] settings that name dependencies, by the compat.model.UnitSection field holding them.
CONFIG_DEPS: tuple[tuple[str, Dep], ...] = (
    ("requires", Dep.REQUIRES),
    ("requisite", Dep.REQUISITE),
    ("wants", Dep.WANTS),
    ("binds_to", Dep.BINDS_TO),
    ("part_of", Dep.PART_OF),
    ("upholds", Dep.UPHOLDS),
    ("conflicts", Dep.CONFLICTS),
    ("before", Dep.BEFORE),
    ("after", Dep.AFTER),
    ("on_failure", Dep.ON_FAILURE),
    ("on_success", Dep.ON_SUCCESS),
    ("propagates_reload_to", Dep.PROPAGATES_RELOAD_TO),
    ("reload_propagated_from", Dep.RELOAD_PROPAGATED_FROM),
    ("propagates_stop_to", Dep.PROPAGATES_STOP_TO),
    ("stop_propagated_from", Dep.STOP_PROPAGATED_FROM),
    ("joins_namespace_of", Dep.JOINS_NAMESPACE_OF),
)

# Dependencies a start job pulls in as start jobs, and whether failing to do so fails the anchor.
PULL_IN_START: tuple[tuple[Dep, bool], ...] = (
    (Dep.REQUIRES, True),
    (Dep.BINDS_TO, True),
    (Dep.WANTS, False),
)
# Units whose start job fails ("dependency") when this unit's start job fails.
PROPAGATE_START_FAILURE = (Dep.REQUIRED_BY, Dep.BOUND_BY, Dep.REQUISITE_OF)
# Units stopped when this unit is stopped by a job.
PROPAGATE_STOP = (Dep.REQUIRED_BY, Dep.BOUND_BY, Dep.CONSISTS_OF, Dep.PROPAGATES_STOP_TO)
# Units restarted (try-restart) when this unit is restarted.
PROPAGATE_RESTART = (Dep.REQUIRED_BY, Dep.BOUND_BY, Dep.CONSISTS_OF)
