"""Unit, job and per-type states, spelled as systemd spells them (they appear verbatim on D-Bus)."""

from __future__ import annotations

import enum


class LoadState(enum.Enum):
    STUB = "stub"
    LOADED = "loaded"
    NOT_FOUND = "not-found"
    BAD_SETTING = "bad-setting"
    ERROR = "error"
    MERGED = "merged"
    MASKED = "masked"


class ActiveState(enum.Enum):
    ACTIVE = "active"
    RELOADING = "reloading"
    INACTIVE = "inactive"
    FAILED = "failed"
    ACTIVATING = "activating"
    DEACTIVATING = "deactivating"
    MAINTENANCE = "maintenance"

    def is_active_or_reloading(self) -> bool:
        return self in (ActiveState.ACTIVE, ActiveState.RELOADING)

    def is_inactive_or_failed(self) -> bool:
        return self in (ActiveState.INACTIVE, ActiveState.FAILED)

    def is_active_or_activating(self) -> bool:
        return self in (ActiveState.ACTIVE, ActiveState.ACTIVATING, ActiveState.RELOADING)


class JobType(enum.Enum):
    START = "start"
    VERIFY_ACTIVE = "verify-active"
    STOP = "stop"
    RELOAD = "reload"
    RESTART = "restart"
    # Collapsed into one of the above when the job is installed, as in systemd.
    TRY_RESTART = "try-restart"
    TRY_RELOAD = "try-reload"
    RELOAD_OR_START = "reload-or-start"
    NOP = "nop"


class JobState(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"


class JobResult(enum.Enum):
    DONE = "done"
    CANCELED = "canceled"
    TIMEOUT = "timeout"
    FAILED = "failed"
    DEPENDENCY = "dependency"
    SKIPPED = "skipped"
    INVALID = "invalid"
    ASSERT = "assert"
    UNSUPPORTED = "unsupported"
    COLLECTED = "collected"
    ONCE = "once"


class ServiceState(enum.Enum):
    DEAD = "dead"
    CONDITION = "condition"
    START_PRE = "start-pre"
    START = "start"
    START_POST = "start-post"
    RUNNING = "running"
    EXITED = "exited"
    RELOAD = "reload"
    STOP = "stop"
    STOP_WATCHDOG = "stop-watchdog"
    STOP_SIGTERM = "stop-sigterm"
    STOP_SIGKILL = "stop-sigkill"
    STOP_POST = "stop-post"
    FINAL_WATCHDOG = "final-watchdog"
    FINAL_SIGTERM = "final-sigterm"
    FINAL_SIGKILL = "final-sigkill"
    FAILED = "failed"
    AUTO_RESTART = "auto-restart"
    CLEANING = "cleaning"


class ServiceResult(enum.Enum):
    SUCCESS = "success"
    PROTOCOL = "protocol"
    TIMEOUT = "timeout"
    EXIT_CODE = "exit-code"
    SIGNAL = "signal"
    CORE_DUMP = "core-dump"
    WATCHDOG = "watchdog"
    START_LIMIT_HIT = "start-limit-hit"
    RESOURCES = "resources"
    OOM_KILL = "oom-kill"
    SKIP_CONDITION = "exec-condition"


class TargetState(enum.Enum):
    DEAD = "dead"
    ACTIVE = "active"
