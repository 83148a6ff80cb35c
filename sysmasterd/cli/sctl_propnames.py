"""The assignments systemctl's set-property knows, by the settings groups of systemd 252's
bus-unit-util.c: which names a unit type accepts client-side ("Unknown assignment" otherwise), and
the wire name each is sent under. Data only, read by sctl_setprop.

Names are systemd's D-Bus API; the daemon answers for the ones it can set (bus/unitprops.py) and
refuses the others by their wire name, so an assignment systemctl sends and ours would not, or
under another name, would change the answer.
"""

from __future__ import annotations

GROUPS: dict[str, str] = {
    "cgroup": ("DevicePolicy Slice ManagedOOMSwap ManagedOOMMemoryPressure ManagedOOMPreference "
        "ManagedOOMMemoryPressureLimit CPUAccounting MemoryAccounting IOAccounting BlockIOAccounting "
        "TasksAccounting IPAccounting CPUWeight StartupCPUWeight IOWeight StartupIOWeight CPUShares "
        "StartupCPUShares AllowedCPUs StartupAllowedCPUs AllowedMemoryNodes StartupAllowedMemoryNodes "
        "BlockIOWeight StartupBlockIOWeight DisableControllers Delegate MemoryMin DefaultMemoryLow "
        "DefaultMemoryMin MemoryLow MemoryHigh MemoryMax MemorySwapMax MemoryLimit TasksMax CPUQuota "
        "CPUQuotaPeriodSec DeviceAllow BlockIOReadBandwidth BlockIOWriteBandwidth IODeviceWeight "
        "BlockIODeviceWeight IODeviceLatencyTargetSec IPAddressAllow IPAddressDeny IPIngressFilterPath "
        "IPEgressFilterPath BPFProgram SocketBindAllow SocketBindDeny "),
    "automount": ("Where ExtraOptions DirectoryMode TimeoutIdleSec "),
    "execute": ("User Group UtmpIdentifier UtmpMode PAMName TTYPath WorkingDirectory RootDirectory SyslogIdentifier "
        "ProtectSystem ProtectHome SELinuxContext RootImage RootVerity RuntimeDirectoryPreserve Personality "
        "KeyringMode ProtectProc ProcSubset NetworkNamespacePath IPCNamespacePath LogNamespace IgnoreSIGPIPE "
        "TTYVHangup TTYReset TTYVTDisallocate PrivateTmp PrivateDevices PrivateNetwork PrivateUsers "
        "PrivateMounts PrivateIPC NoNewPrivileges SyslogLevelPrefix MemoryDenyWriteExecute RestrictRealtime "
        "DynamicUser RemoveIPC ProtectKernelTunables ProtectKernelModules ProtectKernelLogs ProtectClock "
        "ProtectControlGroups MountAPIVFS CPUSchedulingResetOnFork LockPersonality ProtectHostname "
        "RestrictSUIDSGID ReadWriteDirectories ReadOnlyDirectories InaccessibleDirectories ReadWritePaths "
        "ReadOnlyPaths InaccessiblePaths ExecPaths NoExecPaths ExecSearchPath ExtensionDirectories "
        "ConfigurationDirectory SupplementaryGroups SystemCallArchitectures SyslogLevel LogLevelMax "
        "SyslogFacility SecureBits CPUSchedulingPolicy CPUSchedulingPriority OOMScoreAdjust CoredumpFilter "
        "Nice SystemCallErrorNumber IOSchedulingClass IOSchedulingPriority RuntimeDirectoryMode "
        "StateDirectoryMode CacheDirectoryMode LogsDirectoryMode ConfigurationDirectoryMode UMask "
        "TimerSlackNSec LogRateLimitIntervalSec LogRateLimitBurst TTYRows TTYColumns MountFlags Environment "
        "UnsetEnvironment PassEnvironment EnvironmentFile SetCredential SetCredentialEncrypted LoadCredential "
        "LoadCredentialEncrypted LogExtraFields StandardInput StandardOutput StandardError StandardInputText "
        "StandardInputData AppArmorProfile SmackProcessLabel CapabilityBoundingSet AmbientCapabilities "
        "CPUAffinity NUMAPolicy NUMAMask RestrictAddressFamilies RestrictFileSystems SystemCallFilter "
        "SystemCallLog RestrictNetworkInterfaces RestrictNamespaces BindPaths BindReadOnlyPaths "
        "TemporaryFileSystem RootHash RootHashSignature RootImageOptions MountImages ExtensionImages "
        "StateDirectory RuntimeDirectory CacheDirectory LogsDirectory "),
    "kill": ("KillMode SendSIGHUP SendSIGKILL KillSignal RestartKillSignal FinalKillSignal WatchdogSignal "),
    "mount": ("What Where Options Type TimeoutSec DirectoryMode SloppyOptions LazyUnmount ForceUnmount "
        "ReadwriteOnly "),
    "path": ("MakeDirectory DirectoryMode PathExists PathExistsGlob PathChanged PathModified DirectoryNotEmpty "
        "TriggerLimitBurst TriggerLimitIntervalSec "),
    "scope": ("RuntimeMaxSec RuntimeRandomizedExtraSec TimeoutStopSec User Group OOMPolicy "),
    "service": ("PIDFile Type ExitType Restart BusName NotifyAccess USBFunctionDescriptors USBFunctionStrings "
        "OOMPolicy TimeoutStartFailureMode TimeoutStopFailureMode PermissionsStartOnly RootDirectoryStartOnly "
        "RemainAfterExit GuessMainPID RestartSec TimeoutStartSec TimeoutStopSec TimeoutAbortSec RuntimeMaxSec "
        "RuntimeRandomizedExtraSec WatchdogSec TimeoutSec FileDescriptorStoreMax ExecCondition ExecStartPre "
        "ExecStart ExecStartPost ExecConditionEx ExecStartPreEx ExecStartEx ExecStartPostEx ExecReload "
        "ExecStop ExecStopPost ExecReloadEx ExecStopEx ExecStopPostEx RestartPreventExitStatus "
        "RestartForceExitStatus SuccessExitStatus "),
    "socket": ("Accept FlushPending Writable KeepAlive NoDelay FreeBind Transparent Broadcast PassCredentials "
        "PassSecurity PassPacketInfo ReusePort RemoveOnStop SELinuxContextFromNet Priority IPTTL Mark IPTOS "
        "Backlog MaxConnections MaxConnectionsPerSource KeepAliveProbes TriggerLimitBurst SocketMode "
        "DirectoryMode MessageQueueMaxMessages MessageQueueMessageSize TimeoutSec KeepAliveTimeSec "
        "KeepAliveIntervalSec DeferAcceptSec TriggerLimitIntervalSec ReceiveBuffer SendBuffer PipeSize "
        "ExecStartPre ExecStartPost ExecReload ExecStopPost SmackLabel SmackLabelIPIn SmackLabelIPOut "
        "TCPCongestion BindToDevice BindIPv6Only FileDescriptorName SocketUser SocketGroup Timestamping "
        "Symlinks SocketProtocol ListenStream ListenDatagram ListenSequentialPacket ListenNetlink "
        "ListenSpecial ListenMessageQueue ListenFIFO ListenUSBFunction "),
    "timer": ("WakeSystem RemainAfterElapse Persistent OnTimezoneChange OnClockChange FixedRandomDelay AccuracySec "
        "RandomizedDelaySec OnActiveSec OnBootSec OnStartupSec OnUnitActiveSec OnUnitInactiveSec OnCalendar "),
    "unit": ("Description SourcePath OnFailureJobMode JobTimeoutAction JobTimeoutRebootArgument StartLimitAction "
        "FailureAction SuccessAction RebootArgument CollectMode StopWhenUnneeded RefuseManualStart "
        "RefuseManualStop AllowIsolate IgnoreOnIsolate DefaultDependencies JobTimeoutSec JobRunningTimeoutSec "
        "StartLimitIntervalSec StartLimitBurst SuccessActionExitStatus FailureActionExitStatus Documentation "
        "RequiresMountsFor Markers "),
}
# What each unit type accepts, before the [Unit] settings every type has.
TYPE_GROUPS: dict[str, tuple[str, ...]] = {
    "service": ("cgroup", "execute", "kill", "service"),
    "socket": ("cgroup", "execute", "kill", "socket"),
    "timer": ("timer",),
    "path": ("path",),
    "slice": ("cgroup",),
    "scope": ("cgroup", "kill", "scope"),
    "mount": ("cgroup", "execute", "kill", "mount"),
    "automount": ("automount",),
    "target": (),
    "device": (),
    "swap": (),
}
# Settings the unit takes through a name family rather than a list (space-separated, as GROUPS).
DEPENDENCIES = ("Requires Requisite Wants BindsTo PartOf Upholds RequiredBy RequisiteOf WantedBy BoundBy UpheldBy "
                "ConsistsOf Conflicts ConflictedBy Before After OnSuccess OnSuccessOf OnFailure OnFailureOf Triggers "
                "TriggeredBy PropagatesReloadTo ReloadPropagatedFrom PropagatesStopTo StopPropagatedFrom "
                "JoinsNamespaceOf References ReferencedBy InSlice SliceOf")
RLIMITS = "CPU FSIZE DATA STACK CORE RSS NOFILE AS NPROC MEMLOCK LOCKS SIGPENDING MSGQUEUE NICE RTPRIO RTTIME"
IO_LIMITS = "IOReadBandwidthMax IOWriteBandwidthMax IOReadIOPSMax IOWriteIOPSMax"
# Sent under another name than the one assigned ("name@type" for one type only); any other *Sec
# setting goes as *USec.
WIRE_NAMES = {
    "CPUQuota": "CPUQuotaPerSecUSec", "OnCalendar": "TimersCalendar", "TimeoutSec@service": "TimeoutStartUSec",
    "OnActiveSec": "TimersMonotonic", "OnBootSec": "TimersMonotonic", "OnStartupSec": "TimersMonotonic",
    "OnUnitActiveSec": "TimersMonotonic", "OnUnitInactiveSec": "TimersMonotonic",
}
