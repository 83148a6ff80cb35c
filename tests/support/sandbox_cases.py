"""The exec sandbox cases, as systemd 252's test-execute checks them (test/test-execute/exec-*.service;
our own units, same checks): name -> (settings, ExecStart= commands, whether the start succeeds).
A oneshot whose command tests the property from inside the sandbox, so the start's result is the
verdict. Placeholders: {tmp} (a scratch directory with src/), {marker} (a file in the host's /tmp),
{procdev} (the host's /proc device number).

Used by tests/core/test_sandbox.py (the core alone) and tests/bus/test_bus_sandbox_systemctl.py
(the same units started by the real systemctl)."""

STATUS = "/bin/sh -c 'test \"$(grep {} /proc/self/status | cut -f2)\" = {}'"
# exit 0 when (not) any visible mount of the unit's namespace lacks nosuid (of mounts stacked on
# one path only the top one counts: the ones below it cannot be reached by path)
SUID_MOUNTS = ("/usr/bin/python3 -c 'import sys; top = dict(line.split()[4:6] for line in "
               "open(\"/proc/self/mountinfo\")); sys.exit({} any(\"nosuid\" not in o for o in top.values()))'")
BIND_81 = "/usr/bin/python3 -c 'import socket; socket.socket().bind((\"127.0.0.1\", 81))'"
CASES = {
    # name: (settings, commands, whether the start succeeds)
    "privatetmp-yes": ("PrivateTmp=yes", ["/bin/sh -c 'test ! -e {marker} && test -w /tmp && test -w /var/tmp'"], True),
    "privatetmp-no": ("PrivateTmp=no", ["/bin/sh -c 'test -e {marker}'"], True),
    "protectsystem-strict": ("ProtectSystem=strict", ["/bin/sh -c '! touch /etc/sm-probe && ! touch /var/sm-probe'"],
                             True),
    "protectsystem-full": ("ProtectSystem=full", ["/bin/sh -c '! touch /etc/sm-probe && ! touch /usr/sm-probe'"], True),
    "protecthome-tmpfs-vs-strict": ("ProtectHome=tmpfs\nProtectSystem=strict",
                                    ["/bin/sh -c 'test \"$(stat -fc %%T /home)\" = tmpfs'"], True),
    "protecthome-yes": ("ProtectHome=yes", ["/bin/sh -c 'test \"$(stat -c %%a /root)\" = 0'"], True),
    "readonlypaths": ("ReadOnlyPaths={tmp}", ["/bin/sh -c '! touch {tmp}/probe'", "+/bin/sh -c 'touch {tmp}/probe'"],
                      True),
    "readwritepaths-under-strict": ("ProtectSystem=strict\nReadWritePaths={tmp}",
                                    ["/bin/sh -c 'touch {tmp}/rw && ! touch /etc/sm-probe'"], True),
    "inaccessiblepaths-sys": ("InaccessiblePaths=/sys", ["/bin/sh -c 'test \"$(stat -c %%a /sys)\" = 0'"], True),
    "inaccessiblepaths-missing": ("InaccessiblePaths=/nonexistent-sm", ["/bin/true"], False),
    "inaccessiblepaths-optional": ("InaccessiblePaths=-/nonexistent-sm", ["/bin/true"], True),
    "noexecpaths": ("NoExecPaths=/bin /usr/bin\nExecPaths=/bin/sh /usr/bin/sh",
                    ["/bin/sh -c '! /bin/true'"], True),
    "temporaryfilesystem-ro": ("TemporaryFileSystem=/var:ro,mode=0700",
                               ["/bin/sh -c 'test -z \"$(ls /var)\" && ! touch /var/x && "
                                "test \"$(stat -c %%a /var)\" = 700'"],
                               True),
    "bindpaths": ("BindPaths={tmp}/src:{tmp}/dst\nBindReadOnlyPaths={tmp}/src:{tmp}/ro",
                  ["/bin/sh -c 'touch {tmp}/dst/f && test -f {tmp}/ro/f && ! touch {tmp}/ro/g'"], True),
    "privatedevices-yes": ("PrivateDevices=yes",
                           ["/bin/sh -c 'test -c /dev/null && ! test -e /dev/mem && echo x > /dev/null'"], True),
    "privatedevices-no-mknod": ("PrivateDevices=yes",
                                ["/bin/sh -c '! /sbin/capsh --has-p=cap_mknod 2>/dev/null'"], True),
    "privatenetwork-yes": ("PrivateNetwork=yes",
                           ["/bin/sh -c 'test -x /sbin/ip && ! /sbin/ip -o link | grep -v \": lo:\"'"], True),
    "protectkerneltunables": ("ProtectKernelTunables=yes", ["/bin/sh -c '! sh -c \"echo 0 > /proc/sys/kernel/sysrq\"'"],
                              True),
    "protectcontrolgroups": ("ProtectControlGroups=yes", ["/bin/sh -c '! mkdir /sys/fs/cgroup/unified/sm-probe'"],
                             True),
    "protectkernelmodules": ("ProtectKernelModules=yes",
                             ["/bin/sh -c '(test ! -e /lib/modules || test \"$(stat -c %%a /lib/modules)\" = 0) && "
                              "! /sbin/capsh --has-b=cap_sys_module 2>/dev/null'"], True),
    "capabilityboundingset-simple": ("CapabilityBoundingSet=CAP_FOWNER CAP_KILL",
                                     [STATUS.format("CapBnd", "0000000000000028")],
                                     True),
    "capabilityboundingset-reset": ("CapabilityBoundingSet=CAP_FOWNER CAP_KILL\nCapabilityBoundingSet=",
                                    [STATUS.format("CapBnd", "0000000000000000")],
                                    True),
    "capabilityboundingset-invert": ("CapabilityBoundingSet=~CAP_CHOWN",
                                     ["/bin/sh -c '! /sbin/capsh --has-b=cap_chown 2>/dev/null && "
                                      "/sbin/capsh --has-b=cap_kill'"], True),
    "ambientcapabilities-nobody": ("User=nobody\nWorkingDirectory=/\nAmbientCapabilities=CAP_CHOWN\n"
                                   "AmbientCapabilities=CAP_NET_RAW",
                                   [STATUS.format("CapAmb", "0000000000002001")],
                                   True),
    "ambient-nonroot-binds-low-port": ("User=nobody\nWorkingDirectory=/\nAmbientCapabilities=CAP_NET_BIND_SERVICE",
                                       [BIND_81],
                                       True),
    "nonroot-without-ambient": ("User=nobody\nWorkingDirectory=/",
                                [BIND_81],
                                False),
    "nonewprivileges": ("NoNewPrivileges=yes", ["/bin/sh -c 'grep -q \"NoNewPrivs:.1\" /proc/self/status'"], True),
    "restrictnamespaces-yes": ("RestrictNamespaces=yes", ["/bin/sh -c '! unshare -m true'"], True),
    "restrictnamespaces-merge-and": ("RestrictNamespaces=mnt pid\nRestrictNamespaces=~mnt",
                                     ["unshare -p -f true", "/bin/sh -c '! unshare -m true'"], True),
    "restrictaddressfamilies": ("RestrictAddressFamilies=AF_UNIX",
                                ["/usr/bin/python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX)\\n"
                                 "try: socket.socket(socket.AF_INET)\\nexcept OSError as e: sys.exit(e.errno != 97)\\n"
                                 "sys.exit(1)'"], True),
    "systemcallfilter-failing": ("SystemCallFilter=ioperm\nSystemCallFilter=~ioperm\nSystemCallFilter=ioperm\n"
                                 "LimitCORE=0", ["/bin/sh -c 'echo should not run'"], False),
    "systemcallfilter-not-failing": ("SystemCallFilter=~ioperm", ["/bin/true"], True),
    "systemcallfilter-system-service": ("SystemCallFilter=@system-service", ["/bin/sh -c 'echo ok > /dev/null'"], True),
    "systemcallerrornumber": ("SystemCallFilter=~uname\nSystemCallErrorNumber=EACCES",
                              ["/usr/bin/python3 -c 'import os,sys\\ntry: os.uname()\\nexcept OSError as e: "
                               "sys.exit(e.errno != 13)\\nsys.exit(1)'"], True),
    "systemcallfilter-errno-name": ("SystemCallFilter=~uname:EILSEQ\nSystemCallErrorNumber=EACCES",
                                    ["/usr/bin/python3 -c 'import os,sys\\ntry: os.uname()\\nexcept OSError as e: "
                                     "sys.exit(e.errno != 84)\\nsys.exit(1)'"], True),
    "memorydenywriteexecute": ("MemoryDenyWriteExecute=yes",
                               ["/usr/bin/python3 -c 'import mmap,sys\\ntry: mmap.mmap(-1, 4096, "
                                "prot=mmap.PROT_WRITE|mmap.PROT_EXEC)\\nexcept OSError: sys.exit(0)\\nsys.exit(1)'"],
                               True),
    "restrictsuidsgid": ("RestrictSUIDSGID=yes", ["/bin/sh -c 'touch {tmp}/s && ! chmod u+s {tmp}/s'"], True),
    "protecthostname": ("ProtectHostname=yes", ["/bin/sh -c '! hostname sm-probe'"], True),
    "protectproc-invisible": ("User=nobody\nProtectProc=invisible",
                              ["/bin/sh -c 'test -e /proc/self/status && test ! -e /proc/1 && "
                               "grep -q \" /proc .*hidepid=invisible\" /proc/self/mountinfo'"], True),
    "protectproc-noaccess": ("User=nobody\nProtectProc=noaccess",
                             ["/bin/sh -c 'test -d /proc/1 && ! cat /proc/1/cmdline'"], True),
    "protectproc-root-sees-all": ("ProtectProc=invisible", ["/bin/sh -c 'test -e /proc/1'"], True),
    "procsubset-pid": ("ProcSubset=pid\nProtectKernelTunables=yes\nProtectSystem=strict",
                       ["/bin/sh -c 'test -e /proc/self/status && test ! -e /proc/sys && test ! -e /proc/meminfo && "
                        "test -e /proc/1 && ! touch /etc/sm-probe'"], True),
    # ProtectKernelTunables= implies MountAPIVFS=: a procfs instance of its own (another device)
    "protectkerneltunables-fresh-proc": ("ProtectKernelTunables=yes",
                                         ["/bin/sh -c 'test \"$(stat -c %%d /proc)\" != {procdev}'"], True),
    "protecthostname-proc-readonly": ("ProtectHostname=yes\nPrivateTmp=yes",
                                      ["/bin/sh -c '! sh -c \"echo sm-probe > /proc/sys/kernel/hostname\"'"], True),
    # the IPC namespace's own message queues on /dev/mqueue
    # NoNewPrivileges= makes every mount of the namespace's entries nosuid (here: all, below /)
    "nonewprivileges-nosuid-mounts": ("NoNewPrivileges=yes\nProtectSystem=strict", [SUID_MOUNTS.format("")], True),
    "nosuid-mounts-need-nonewprivileges": ("ProtectSystem=strict", [SUID_MOUNTS.format("not")], True),
    "privateipc-mqueue-privatedevices": ("PrivateIPC=yes\nPrivateDevices=yes",
                                         ["/bin/sh -c 'test \"$(stat -f -c %%T /dev/mqueue)\" = mqueue'"], True),
    "privateipc-mqueue": ("PrivateIPC=yes",
                          ["/bin/sh -c 'test \"$(stat -f -c %%T /dev/mqueue)\" = mqueue && "
                           "touch /dev/mqueue/sm-probe && test -e /dev/mqueue/sm-probe'"], True),
    # and _sysctl(2) fails with EPERM (x86-64's number; the kernel's own answer is ENOSYS)
    "protectkerneltunables-sysctl": ("ProtectKernelTunables=yes",
                                     ["/usr/bin/python3 -c 'import ctypes, sys, platform\\n"
                                      "libc = ctypes.CDLL(None, use_errno=True)\\n"
                                      "sys.exit(platform.machine() == \"x86_64\" and "
                                      "(libc.syscall(156, 0), ctypes.get_errno())[1] != 1)'"], True),
    "protectproc-host-untouched": ("ProtectProc=invisible", ["+/bin/sh -c '! grep -q hidepid /proc/self/mountinfo'"],
                                   True),
    "privateusers": ("User=daemon\nPrivateUsers=yes",
                     ["/bin/sh -c 'test \"$(id -u):$(id -g)\" = 1:1 && "
                      "test \"$(stat -c %%u:%%g /etc/shadow)\" = 0:65534 && "
                      "test \"$(cat /proc/self/uid_map | wc -l)\" = 2 && grep -q \"^ *1 *1 *1$\" /proc/self/gid_map'"],
                     True),
    "privateusers-root": ("PrivateUsers=yes",
                          ["/bin/sh -c 'test \"$(stat -c %%g /etc/shadow)\" = 65534 && "
                           "test \"$(cat /proc/self/uid_map | wc -l)\" = 1 && ! chown 42 /tmp'"], True),
}
