"""The directive names systemd 252 knows, per section (from load-fragment-gperf.gperf.in, v252.31).

Used to tell "unknown key" (a typo: warned and ignored, like systemd) from "known to systemd but
not implemented here" (loaded with a clear "not supported" warning, never silently).
"""

from __future__ import annotations


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


EXEC_CONTEXT = _names(
    """
    WorkingDirectory RootDirectory RootImage RootImageOptions RootHash RootHashSignature RootVerity
    ExtensionDirectories ExtensionImages MountImages User Group SupplementaryGroups Nice
    OOMScoreAdjust CoredumpFilter IOSchedulingClass IOSchedulingPriority CPUSchedulingPolicy
    CPUSchedulingPriority CPUSchedulingResetOnFork CPUAffinity NUMAPolicy NUMAMask UMask Environment
    EnvironmentFile PassEnvironment UnsetEnvironment DynamicUser RemoveIPC StandardInput
    StandardOutput StandardError StandardInputText StandardInputData TTYPath TTYReset TTYVHangup
    TTYVTDisallocate TTYRows TTYColumns SyslogIdentifier SyslogFacility SyslogLevel
    SyslogLevelPrefix LogLevelMax LogRateLimitIntervalSec LogRateLimitBurst LogExtraFields
    Capabilities SecureBits CapabilityBoundingSet AmbientCapabilities TimerSlackNSec NoNewPrivileges
    KeyringMode ProtectProc ProcSubset SystemCallFilter SystemCallArchitectures
    SystemCallErrorNumber SystemCallLog MemoryDenyWriteExecute RestrictNamespaces RestrictRealtime
    RestrictSUIDSGID RestrictAddressFamilies LockPersonality RestrictFileSystems LimitCPU LimitFSIZE
    LimitDATA LimitSTACK LimitCORE LimitRSS LimitNOFILE LimitAS LimitNPROC LimitMEMLOCK LimitLOCKS
    LimitSIGPENDING LimitMSGQUEUE LimitNICE LimitRTPRIO LimitRTTIME ReadWriteDirectories
    ReadOnlyDirectories InaccessibleDirectories ReadWritePaths ReadOnlyPaths InaccessiblePaths
    ExecPaths NoExecPaths ExecSearchPath BindPaths BindReadOnlyPaths TemporaryFileSystem PrivateTmp
    PrivateDevices ProtectKernelTunables ProtectKernelModules ProtectKernelLogs ProtectClock
    ProtectControlGroups NetworkNamespacePath IPCNamespacePath LogNamespace PrivateNetwork
    PrivateUsers PrivateMounts PrivateIPC ProtectSystem ProtectHome MountFlags MountAPIVFS
    Personality RuntimeDirectoryPreserve RuntimeDirectoryMode RuntimeDirectory StateDirectoryMode
    StateDirectory CacheDirectoryMode CacheDirectory LogsDirectoryMode LogsDirectory
    ConfigurationDirectoryMode ConfigurationDirectory SetCredential SetCredentialEncrypted
    LoadCredential LoadCredentialEncrypted TimeoutCleanSec PAMName IgnoreSIGPIPE UtmpIdentifier
    UtmpMode SELinuxContext AppArmorProfile SmackProcessLabel ProtectHostname
"""
)

KILL_CONTEXT = _names(
    """
    SendSIGKILL SendSIGHUP KillMode KillSignal RestartKillSignal FinalKillSignal WatchdogSignal
"""
)

CGROUP_CONTEXT = _names(
    """
    Slice AllowedCPUs StartupAllowedCPUs AllowedMemoryNodes StartupAllowedMemoryNodes CPUAccounting
    CPUWeight StartupCPUWeight CPUShares StartupCPUShares CPUQuota CPUQuotaPeriodSec
    MemoryAccounting MemoryMin DefaultMemoryMin DefaultMemoryLow MemoryLow MemoryHigh MemoryMax
    MemorySwapMax MemoryLimit DeviceAllow DevicePolicy IOAccounting IOWeight StartupIOWeight
    IODeviceWeight IOReadBandwidthMax IOWriteBandwidthMax IOReadIOPSMax IOWriteIOPSMax
    IODeviceLatencyTargetSec BlockIOAccounting BlockIOWeight StartupBlockIOWeight
    BlockIODeviceWeight BlockIOReadBandwidth BlockIOWriteBandwidth TasksAccounting TasksMax Delegate
    DisableControllers IPAccounting IPAddressAllow IPAddressDeny IPIngressFilterPath
    IPEgressFilterPath ManagedOOMSwap ManagedOOMMemoryPressure ManagedOOMMemoryPressureLimit
    ManagedOOMPreference NetClass BPFProgram SocketBindAllow SocketBindDeny
    RestrictNetworkInterfaces
"""
)

SECTIONS: dict[str, frozenset[str]] = {
    "Unit": _names(
        """
        Description Documentation SourcePath Requires Requisite Wants BindsTo BindTo Upholds
        Conflicts Before After OnSuccess OnFailure PropagatesReloadTo PropagateReloadTo
        ReloadPropagatedFrom PropagateReloadFrom PropagatesStopTo StopPropagatedFrom PartOf
        JoinsNamespaceOf RequiresOverridable RequisiteOverridable RequiresMountsFor StopWhenUnneeded
        RefuseManualStart RefuseManualStop AllowIsolate DefaultDependencies OnSuccessJobMode
        OnFailureJobMode OnFailureIsolate IgnoreOnIsolate IgnoreOnSnapshot JobTimeoutSec
        JobRunningTimeoutSec JobTimeoutAction JobTimeoutRebootArgument StartLimitIntervalSec
        StartLimitInterval StartLimitBurst StartLimitAction FailureAction SuccessAction
        FailureActionExitStatus SuccessActionExitStatus RebootArgument ConditionPathExists
        ConditionPathExistsGlob ConditionPathIsDirectory ConditionPathIsSymbolicLink
        ConditionPathIsMountPoint ConditionPathIsReadWrite ConditionPathIsEncrypted
        ConditionDirectoryNotEmpty ConditionFileNotEmpty ConditionFileIsExecutable
        ConditionNeedsUpdate ConditionFirstBoot ConditionArchitecture ConditionFirmware
        ConditionVirtualization ConditionHost ConditionKernelCommandLine ConditionKernelVersion
        ConditionCredential ConditionSecurity ConditionCapability ConditionACPower ConditionMemory
        ConditionCPUFeature ConditionCPUs ConditionEnvironment ConditionUser ConditionGroup
        ConditionControlGroupController ConditionOSRelease ConditionMemoryPressure
        ConditionCPUPressure ConditionIOPressure AssertPathExists AssertPathExistsGlob
        AssertPathIsDirectory AssertPathIsSymbolicLink AssertPathIsMountPoint AssertPathIsReadWrite
        AssertPathIsEncrypted AssertDirectoryNotEmpty AssertFileNotEmpty AssertFileIsExecutable
        AssertNeedsUpdate AssertFirstBoot AssertArchitecture AssertVirtualization AssertHost
        AssertKernelCommandLine AssertKernelVersion AssertCredential AssertSecurity AssertCapability
        AssertACPower AssertMemory AssertCPUFeature AssertCPUs AssertEnvironment AssertUser
        AssertGroup AssertControlGroupController AssertOSRelease AssertMemoryPressure
        AssertCPUPressure AssertIOPressure CollectMode
"""
    ),
    "Service": _names(
        """
        PIDFile ExecCondition ExecStartPre ExecStart ExecStartPost ExecReload ExecStop ExecStopPost
        RestartSec TimeoutSec TimeoutStartSec TimeoutStopSec TimeoutAbortSec TimeoutStartFailureMode
        TimeoutStopFailureMode RuntimeMaxSec RuntimeRandomizedExtraSec WatchdogSec
        StartLimitInterval StartLimitBurst StartLimitAction FailureAction RebootArgument Type
        ExitType Restart PermissionsStartOnly RootDirectoryStartOnly RemainAfterExit GuessMainPID
        RestartPreventExitStatus RestartForceExitStatus SuccessExitStatus SysVStartPriority
        NonBlocking BusName FileDescriptorStoreMax NotifyAccess Sockets BusPolicy
        USBFunctionDescriptors USBFunctionStrings OOMPolicy
"""
    )
    | EXEC_CONTEXT
    | CGROUP_CONTEXT
    | KILL_CONTEXT,
    "Socket": _names(
        """
        ListenStream ListenDatagram ListenSequentialPacket ListenFIFO ListenNetlink ListenSpecial
        ListenMessageQueue ListenUSBFunction SocketProtocol BindIPv6Only Backlog BindToDevice
        ExecStartPre ExecStartPost ExecStopPre ExecStopPost TimeoutSec SocketUser SocketGroup
        SocketMode DirectoryMode Accept FlushPending Writable MaxConnections MaxConnectionsPerSource
        KeepAlive KeepAliveTimeSec KeepAliveIntervalSec KeepAliveProbes DeferAcceptSec NoDelay
        Priority ReceiveBuffer SendBuffer IPTOS IPTTL Mark PipeSize FreeBind Transparent Broadcast
        PassCredentials PassSecurity PassPacketInfo Timestamping TCPCongestion ReusePort
        MessageQueueMaxMessages MessageQueueMessageSize RemoveOnStop Symlinks FileDescriptorName
        Service TriggerLimitIntervalSec TriggerLimitBurst SmackLabel SmackLabelIPIn SmackLabelIPOut
        SELinuxContextFromNet
"""
    )
    | EXEC_CONTEXT
    | CGROUP_CONTEXT
    | KILL_CONTEXT,
    "Mount": _names(
        """
        What Where Options Type TimeoutSec DirectoryMode SloppyOptions LazyUnmount ForceUnmount
        ReadWriteOnly
"""
    )
    | EXEC_CONTEXT
    | CGROUP_CONTEXT
    | KILL_CONTEXT,
    "Automount": _names(
        """
        Where ExtraOptions DirectoryMode TimeoutIdleSec
"""
    ),
    "Swap": _names(
        """
        What Priority Options TimeoutSec
"""
    )
    | EXEC_CONTEXT
    | CGROUP_CONTEXT
    | KILL_CONTEXT,
    "Timer": _names(
        """
        OnCalendar OnActiveSec OnBootSec OnStartupSec OnUnitActiveSec OnUnitInactiveSec
        OnClockChange OnTimezoneChange Persistent WakeSystem RemainAfterElapse FixedRandomDelay
        AccuracySec RandomizedDelaySec Unit
"""
    ),
    "Path": _names(
        """
        PathExists PathExistsGlob PathChanged PathModified DirectoryNotEmpty Unit MakeDirectory
        DirectoryMode TriggerLimitIntervalSec TriggerLimitBurst
"""
    ),
    "Scope": _names(
        """
        RuntimeMaxSec RuntimeRandomizedExtraSec TimeoutStopSec OOMPolicy
"""
    )
    | CGROUP_CONTEXT
    | KILL_CONTEXT,
    "Install": _names(
        """
        Alias WantedBy RequiredBy Also DefaultInstance
"""
    ),
    "Slice": CGROUP_CONTEXT,
}

# Options systemd itself only warns about ("Support for option X= has been removed and it is
# ignored"), so they are not "not supported by sysmaster" but obsolete everywhere.
REMOVED = frozenset({"Capabilities", "NetClass", "IgnoreOnSnapshot", "SysVStartPriority", "BusPolicy"})
