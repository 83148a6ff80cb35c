"""The typed unit configuration that compat produces and sysmasterd consumes.

Field names are the snake_case form of systemd's directive names, so the D-Bus layer can map
them back to property names mechanically. Times are microseconds (systemd's usec_t) with
USEC_INFINITY for "infinity"; unset optional values are None, so "not configured" and
"configured to the default" stay distinguishable where systemd distinguishes them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compat.config_automount import AutomountSection
    from compat.config_mount import MountSection
    from compat.config_path import PathSection
    from compat.config_socket import SocketSection
    from compat.config_swap import SwapSection
    from compat.config_timer import TimerSection

USEC_INFINITY = (1 << 64) - 1
USEC_PER_SEC = 1_000_000


class Scope(enum.Enum):
    SYSTEM = "system"
    USER = "user"
    GLOBAL = "global"  # every user's units (systemctl --global): unit-file operations only


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


@dataclass(frozen=True)
class Diagnostic:
    """A problem found in a file, reported the way systemd logs it: `file:line: message`."""

    path: str
    line: int
    message: str
    severity: Severity = Severity.WARNING

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


# ---------------------------------------------------------------------------------------------
# [Unit]


class ConditionKind(enum.Enum):
    CONDITION = "Condition"
    ASSERT = "Assert"


@dataclass(frozen=True)
class Condition:
    """One Condition*/Assert* line. `name` is the suffix, e.g. "PathExists"."""

    kind: ConditionKind
    name: str
    parameter: str
    trigger: bool = False  # "|" prefix: any triggering condition suffices
    negate: bool = False  # "!" prefix


class EmergencyAction(enum.Enum):
    NONE = "none"
    REBOOT = "reboot"
    REBOOT_FORCE = "reboot-force"
    REBOOT_IMMEDIATE = "reboot-immediate"
    POWEROFF = "poweroff"
    POWEROFF_FORCE = "poweroff-force"
    POWEROFF_IMMEDIATE = "poweroff-immediate"
    EXIT = "exit"
    EXIT_FORCE = "exit-force"
    SOFT_REBOOT = "soft-reboot"
    HALT = "halt"
    HALT_FORCE = "halt-force"
    HALT_IMMEDIATE = "halt-immediate"
    KEXEC = "kexec"
    KEXEC_FORCE = "kexec-force"


class CollectMode(enum.Enum):
    INACTIVE = "inactive"
    INACTIVE_OR_FAILED = "inactive-or-failed"


class JobMode(enum.Enum):
    """Job modes of StartUnit(name, mode) and OnFailureJobMode=."""

    FAIL = "fail"
    REPLACE = "replace"
    REPLACE_IRREVERSIBLY = "replace-irreversibly"
    ISOLATE = "isolate"
    FLUSH = "flush"
    IGNORE_DEPENDENCIES = "ignore-dependencies"
    IGNORE_REQUIREMENTS = "ignore-requirements"
    TRIGGERING = "triggering"


@dataclass
class UnitSection:
    description: str = ""
    documentation: list[str] = field(default_factory=list)
    # Dependencies: unit names, specifiers already expanded, duplicates removed, order kept.
    requires: list[str] = field(default_factory=list)
    requisite: list[str] = field(default_factory=list)
    wants: list[str] = field(default_factory=list)
    binds_to: list[str] = field(default_factory=list)
    part_of: list[str] = field(default_factory=list)
    upholds: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    on_failure: list[str] = field(default_factory=list)
    on_success: list[str] = field(default_factory=list)
    propagates_reload_to: list[str] = field(default_factory=list)
    reload_propagated_from: list[str] = field(default_factory=list)
    propagates_stop_to: list[str] = field(default_factory=list)
    stop_propagated_from: list[str] = field(default_factory=list)
    joins_namespace_of: list[str] = field(default_factory=list)
    requires_mounts_for: list[str] = field(default_factory=list)
    on_failure_job_mode: JobMode = JobMode.REPLACE
    on_success_job_mode: JobMode = JobMode.FAIL
    ignore_on_isolate: bool = False
    stop_when_unneeded: bool = False
    refuse_manual_start: bool = False
    refuse_manual_stop: bool = False
    allow_isolate: bool = False
    default_dependencies: bool = True
    collect_mode: CollectMode = CollectMode.INACTIVE
    failure_action: EmergencyAction = EmergencyAction.NONE
    success_action: EmergencyAction = EmergencyAction.NONE
    failure_action_exit_status: int | None = None
    success_action_exit_status: int | None = None
    job_timeout_usec: int = USEC_INFINITY
    job_running_timeout_usec: int = USEC_INFINITY
    job_timeout_action: EmergencyAction = EmergencyAction.NONE
    job_timeout_reboot_argument: str = ""
    start_limit_interval_usec: int | None = None  # None: manager default (10s)
    start_limit_burst: int | None = None  # None: manager default (5)
    start_limit_action: EmergencyAction = EmergencyAction.NONE
    reboot_argument: str = ""
    source_path: str = ""
    conditions: list[Condition] = field(default_factory=list)  # Condition* and Assert*, file order


# ---------------------------------------------------------------------------------------------
# [Install]


@dataclass
class InstallSection:
    alias: list[str] = field(default_factory=list)
    wanted_by: list[str] = field(default_factory=list)
    required_by: list[str] = field(default_factory=list)
    also: list[str] = field(default_factory=list)
    default_instance: str | None = None


# ---------------------------------------------------------------------------------------------
# Exec lines


class ExecFlag(enum.Flag):
    NONE = 0
    IGNORE_FAILURE = enum.auto()  # "-"
    ARGV0 = enum.auto()  # "@": argv[1] of the line is argv[0] of the process
    NO_ENV_EXPAND = enum.auto()  # ":"
    FULL_PRIVILEGES = enum.auto()  # "+"
    AMBIENT_PRIVILEGES = enum.auto()  # "!" (no capabilities support yet: treated as "+")
    NO_SETUID = enum.auto()  # "!!"


@dataclass(frozen=True)
class ExecCommand:
    """One Exec*= command. `path` is the binary to execute, `argv` includes argv[0]."""

    path: str
    argv: tuple[str, ...]
    flags: ExecFlag = ExecFlag.NONE
    # Where it came from, for messages and status.
    source: str = ""
    line: int = 0

    @property
    def ignore_failure(self) -> bool:
        return bool(self.flags & ExecFlag.IGNORE_FAILURE)


class StdInput(enum.Enum):
    NULL = "null"
    TTY = "tty"
    TTY_FORCE = "tty-force"
    TTY_FAIL = "tty-fail"
    DATA = "data"
    FILE = "file"
    SOCKET = "socket"
    FD = "fd"


class StdOutput(enum.Enum):
    INHERIT = "inherit"
    NULL = "null"
    TTY = "tty"
    JOURNAL = "journal"
    KMSG = "kmsg"
    JOURNAL_AND_CONSOLE = "journal+console"
    KMSG_AND_CONSOLE = "kmsg+console"
    SYSLOG = "syslog"
    SYSLOG_AND_CONSOLE = "syslog+console"
    FILE = "file"
    APPEND = "append"
    TRUNCATE = "truncate"
    SOCKET = "socket"
    FD = "fd"


@dataclass(frozen=True)
class ResourceLimit:
    soft: int  # RLIM_INFINITY = resource.RLIM_INFINITY
    hard: int


class IOSchedulingClass(enum.Enum):
    NONE = 0
    REALTIME = 1
    BEST_EFFORT = 2
    IDLE = 3


@dataclass(frozen=True)
class EnvironmentFile:
    path: str
    optional: bool  # "-" prefix


@dataclass(frozen=True)
class DirectorySetting:
    """One entry of RuntimeDirectory= etc.; `path` relative to the base dir."""

    path: str


@dataclass(frozen=True)
class TmpfsMount:
    """One TemporaryFileSystem= entry: a tmpfs on `path` with mount options."""

    path: str
    options: str


@dataclass(frozen=True)
class BindMount:
    """One BindPaths=/BindReadOnlyPaths= entry."""

    source: str
    destination: str
    read_only: bool
    optional: bool  # "-" prefix: a missing source is skipped
    recursive: bool = True  # "norbind" turns it off


@dataclass
class SyscallFilter:
    """SystemCallFilter=: an allow list (everything else denied) or a deny list; names expanded
    from the @groups, each with its own errno (None: SystemCallErrorNumber=, or kill)."""

    allow: bool
    calls: dict[str, int | None] = field(default_factory=dict)


@dataclass
class AddressFamilies:
    """RestrictAddressFamilies=: the families allowed (allow) or denied (not allow)."""

    allow: bool
    families: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Credential:
    """LoadCredential=ID[:PATH] (`path` set; relative paths come from the credential store) or
    SetCredential=ID:DATA (`data` set); `encrypted` for their *Encrypted= forms, whose data is
    what `systemd-creds encrypt` made (the Base64 of SetCredentialEncrypted= already decoded)."""

    id: str
    path: str | None = None
    data: bytes | None = None
    encrypted: bool = False


@dataclass(frozen=True)
class DeviceAllow:
    """One DeviceAllow= entry: a device node, or a `char-`/`block-` group from /proc/devices, with
    its rights among "rwm" (in that order)."""

    path: str
    rights: str


@dataclass(frozen=True)
class IPPrefix:
    """One IPAddressAllow=/IPAddressDeny= prefix, host bits masked off as systemd stores it."""

    family: int  # AF_INET or AF_INET6
    address: bytes
    prefixlen: int


@dataclass
class ExecContext:
    working_directory: str | None = None  # "~" kept as "~" to resolve at spawn time
    working_directory_missing_ok: bool = False  # "-" prefix
    root_directory: str | None = None
    user: str | None = None
    group: str | None = None
    supplementary_groups: list[str] = field(default_factory=list)
    umask: int = 0o022
    environment: dict[str, str] = field(default_factory=dict)  # Environment=, in order
    environment_files: list[EnvironmentFile] = field(default_factory=list)
    pass_environment: list[str] = field(default_factory=list)
    unset_environment: list[str] = field(default_factory=list)
    standard_input: StdInput = StdInput.NULL
    standard_output: StdOutput | None = None  # None: manager default (journal -> manager log)
    standard_error: StdOutput | None = None  # None: like systemd, inherit from output
    standard_input_path: str | None = None  # file:PATH
    standard_output_path: str | None = None  # file:/append:/truncate: PATH
    standard_error_path: str | None = None
    standard_input_data: bytes = b""  # StandardInputText= / StandardInputData=, decoded
    tty_path: str | None = None
    syslog_identifier: str | None = None
    syslog_priority: int = 3 << 3 | 6  # LOG_DAEMON|LOG_INFO: SyslogFacility= and SyslogLevel=
    syslog_level_prefix: bool = True
    log_level_max: int = -1  # -1: no maximum
    log_extra_fields: list[str] = field(default_factory=list)  # "FIELD=value"
    log_rate_limit_interval_usec: int = 0  # 0: journald's default
    log_rate_limit_burst: int = 0
    limits: dict[str, ResourceLimit] = field(default_factory=dict)  # "NOFILE" -> limit
    nice: int | None = None
    oom_score_adjust: int | None = None
    io_scheduling_class: IOSchedulingClass | None = None
    io_scheduling_priority: int | None = None
    cpu_affinity: list[int] = field(default_factory=list)
    personality: str | None = None
    runtime_directory: list[DirectorySetting] = field(default_factory=list)
    state_directory: list[DirectorySetting] = field(default_factory=list)
    cache_directory: list[DirectorySetting] = field(default_factory=list)
    logs_directory: list[DirectorySetting] = field(default_factory=list)
    configuration_directory: list[DirectorySetting] = field(default_factory=list)
    runtime_directory_mode: int = 0o755
    state_directory_mode: int = 0o755
    cache_directory_mode: int = 0o755
    logs_directory_mode: int = 0o755
    configuration_directory_mode: int = 0o755
    runtime_directory_preserve: str = "no"  # no | yes | restart
    ignore_sigpipe: bool = True
    # Sandboxing (systemd.exec(5) "Security", "Sandboxing", "System Call Filtering", "Credentials").
    # Fields whose D-Bus form is a plain value are named as the property; structured ones are not,
    # so the mechanical property mapping leaves them to explicit getters.
    no_new_privileges: bool = False
    capability_bounding_set: int | None = None  # None: all capabilities
    ambient_capabilities: int = 0
    secure_bits: int = 0
    private_tmp: bool = False
    private_devices: bool = False
    private_network: bool = False
    private_ipc: bool = False
    network_namespace_path: str = ""  # NetworkNamespacePath=: join this namespace (PrivateNetwork= then moot)
    ipc_namespace_path: str = ""
    private_mounts: bool = False
    protect_kernel_tunables: bool = False
    protect_kernel_modules: bool = False
    protect_kernel_logs: bool = False
    protect_control_groups: bool = False
    protect_clock: bool = False
    protect_hostname: bool = False
    protect_system: str = "no"  # no | yes | full | strict
    protect_home: str = "no"  # no | yes | read-only | tmpfs
    read_write_paths: list[str] = field(default_factory=list)  # "-" (optional) and "+" prefixes kept
    read_only_paths: list[str] = field(default_factory=list)
    inaccessible_paths: list[str] = field(default_factory=list)
    exec_paths: list[str] = field(default_factory=list)
    no_exec_paths: list[str] = field(default_factory=list)
    exec_search_path: list[str] = field(default_factory=list)  # ExecSearchPath=
    tmpfs_mounts: list[TmpfsMount] = field(default_factory=list)  # TemporaryFileSystem=
    bind_mounts: list[BindMount] = field(default_factory=list)  # BindPaths=, BindReadOnlyPaths=
    restrict_suidsgid: bool = False
    lock_personality: bool = False
    memory_deny_write_execute: bool = False
    restrict_realtime: bool = False
    restrict_namespaces: int | None = None  # the namespace flags allowed; None: no restriction
    syscall_filter: SyscallFilter | None = None  # SystemCallFilter=
    syscall_log: SyscallFilter | None = None  # SystemCallLog=: allow = log only the listed calls
    syscall_errno: int | None = None  # SystemCallErrorNumber=; None: kill
    system_call_architectures: list[str] = field(default_factory=list)
    address_families: AddressFamilies | None = None  # RestrictAddressFamilies=
    credentials: list[Credential] = field(default_factory=list)  # LoadCredential=, SetCredential=
    protect_proc: str = "default"  # default | noaccess | invisible | ptraceable
    proc_subset: str = "all"  # all | pid
    private_users: bool = False
    mount_apivfs: bool | None = None  # MountAPIVFS=; None: unset (then yes with RootDirectory=)
    dynamic_user: bool = False
    remove_ipc: bool = False
    # Directives we parse but do not enforce (sandboxing, capabilities, ...): kept so status can
    # show them; each one also produced a "not supported" diagnostic.
    unsupported: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Kill / cgroup


class KillMode(enum.Enum):
    CONTROL_GROUP = "control-group"
    MIXED = "mixed"
    PROCESS = "process"
    NONE = "none"


@dataclass
class KillContext:
    kill_mode: KillMode = KillMode.CONTROL_GROUP
    kill_signal: int = 15
    restart_kill_signal: int | None = None  # None: same as kill_signal
    final_kill_signal: int = 9
    watchdog_signal: int = 6
    send_sigkill: bool = True
    send_sighup: bool = False


@dataclass
class CGroupContext:
    slice: str | None = None
    delegate: bool = False
    # Delegate=: the controllers handed over; None with delegate: all (systemd's Delegate=yes)
    delegate_controllers: list[str] | None = None
    memory_max: int | None = None
    tasks_max: int | None = None
    cpu_weight: int | None = None  # 0: idle
    startup_cpu_weight: int | None = None
    cpu_quota_per_sec_usec: int | None = None  # CPUQuota=, as CPU time per second
    cpu_quota_period_usec: int | None = None
    allowed_cpus: tuple[int, ...] = ()  # AllowedCPUs= (systemd's cpuset_cpus)
    memory_min: int | None = None
    memory_low: int | None = None
    memory_high: int | None = None
    memory_swap_max: int | None = None
    memory_limit: int | None = None  # the deprecated v1 name; MemoryMax= wins when both are set
    io_weight: int | None = None
    startup_io_weight: int | None = None
    # IODeviceWeight=: (path, weight) in order; IO*Max=: path -> [rbps, wbps, riops, wiops]
    io_device_weights: list[tuple[str, int]] = field(default_factory=list)
    io_device_limits: dict[str, list[int]] = field(default_factory=dict)
    device_policy: str = "auto"  # auto | closed | strict
    device_allow: list[DeviceAllow] = field(default_factory=list)  # in file order
    ip_accounting: bool = False
    ip_address_allow: list[IPPrefix] = field(default_factory=list)  # a set, kept in file order
    ip_address_deny: list[IPPrefix] = field(default_factory=list)
    # ManagedOOM*=: what systemd-oomd is asked to do (it reads them from the bus); auto | kill
    managed_oom_swap: str = "auto"
    managed_oom_memory_pressure: str = "auto"
    managed_oom_memory_pressure_limit: int = 0  # scaled so that UINT32_MAX is 100%
    managed_oom_preference: str = "none"  # none | avoid | omit
    # Settings loaded but not applied yet are in ExecContext.unsupported-like storage here.
    unsupported: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# [Service]


class ServiceType(enum.Enum):
    SIMPLE = "simple"
    EXEC = "exec"
    FORKING = "forking"
    ONESHOT = "oneshot"
    DBUS = "dbus"
    NOTIFY = "notify"
    IDLE = "idle"


class ServiceRestart(enum.Enum):
    NO = "no"
    ON_SUCCESS = "on-success"
    ON_FAILURE = "on-failure"
    ON_ABNORMAL = "on-abnormal"
    ON_WATCHDOG = "on-watchdog"
    ON_ABORT = "on-abort"
    ALWAYS = "always"


class NotifyAccess(enum.Enum):
    NONE = "none"
    MAIN = "main"
    EXEC = "exec"
    ALL = "all"


class OOMPolicy(enum.Enum):
    """What a service does when the kernel's OOM killer kills one of its processes."""

    CONTINUE = "continue"
    STOP = "stop"
    KILL = "kill"


class TimeoutFailureMode(enum.Enum):
    TERMINATE = "terminate"
    ABORT = "abort"
    KILL = "kill"


@dataclass
class ExitStatusSet:
    """SuccessExitStatus= / RestartPreventExitStatus= / RestartForceExitStatus=."""

    statuses: set[int] = field(default_factory=set)
    signals: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.statuses or self.signals)


@dataclass
class ServiceSection:
    type: ServiceType | None = None  # None: simple, or oneshot when there is no ExecStart
    exec_condition: list[ExecCommand] = field(default_factory=list)
    exec_start_pre: list[ExecCommand] = field(default_factory=list)
    exec_start: list[ExecCommand] = field(default_factory=list)
    exec_start_post: list[ExecCommand] = field(default_factory=list)
    exec_reload: list[ExecCommand] = field(default_factory=list)
    exec_stop: list[ExecCommand] = field(default_factory=list)
    exec_stop_post: list[ExecCommand] = field(default_factory=list)
    remain_after_exit: bool = False
    guess_main_pid: bool = True
    # Control commands (all but ExecStart=) run without User=/sandboxing, or without RootDirectory=.
    permissions_start_only: bool = False
    root_directory_start_only: bool = False
    pid_file: str | None = None
    bus_name: str | None = None
    restart: ServiceRestart = ServiceRestart.NO
    restart_usec: int | None = None  # None: the manager's DefaultRestartSec= (100ms)
    restart_prevent_exit_status: ExitStatusSet = field(default_factory=ExitStatusSet)
    restart_force_exit_status: ExitStatusSet = field(default_factory=ExitStatusSet)
    success_exit_status: ExitStatusSet = field(default_factory=ExitStatusSet)
    timeout_start_usec: int | None = None  # None: manager default (90s)
    timeout_stop_usec: int | None = None
    timeout_abort_usec: int | None = None
    timeout_start_failure_mode: TimeoutFailureMode = TimeoutFailureMode.TERMINATE
    timeout_stop_failure_mode: TimeoutFailureMode = TimeoutFailureMode.TERMINATE
    oom_policy: OOMPolicy | None = None  # None: the manager's DefaultOOMPolicy=
    runtime_max_usec: int = USEC_INFINITY
    watchdog_usec: int = 0
    notify_access: NotifyAccess | None = None  # None: "main" for notify, "none" otherwise
    file_descriptor_store_max: int = 0
    sockets: list[str] = field(default_factory=list)  # Sockets=: .socket names
    non_blocking: bool = False
    exit_type: str = "main"  # main | cgroup


# ---------------------------------------------------------------------------------------------
# The whole unit


class UnitKind(enum.Enum):
    """Unit types by suffix. Only service and target run today; the rest load and are kept."""

    SERVICE = "service"
    TARGET = "target"
    SOCKET = "socket"
    TIMER = "timer"
    PATH = "path"
    MOUNT = "mount"
    AUTOMOUNT = "automount"
    SWAP = "swap"
    SLICE = "slice"
    SCOPE = "scope"
    DEVICE = "device"


@dataclass
class UnitConfig:
    """Everything the files say about one unit, after drop-ins, .wants/.requires and specifiers."""

    name: str
    kind: UnitKind
    unit: UnitSection = field(default_factory=UnitSection)
    install: InstallSection = field(default_factory=InstallSection)
    exec: ExecContext = field(default_factory=ExecContext)
    kill: KillContext = field(default_factory=KillContext)
    cgroup: CGroupContext = field(default_factory=CGroupContext)
    service: ServiceSection | None = None  # set for .service units
    path: PathSection | None = None  # set for .path units
    timer: TimerSection | None = None  # set for .timer units
    socket: SocketSection | None = None  # set for .socket units
    mount: MountSection | None = None  # set for .mount units
    swap: SwapSection | None = None  # set for .swap units
    automount: AutomountSection | None = None  # set for .automount units
    # Type sections not run yet (socket/timer/path/mount/...): raw key -> values, kept for later.
    raw_type_section: dict[str, list[str]] = field(default_factory=dict)
