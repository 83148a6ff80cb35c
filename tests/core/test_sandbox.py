"""The exec sandbox, checked as systemd's test-execute checks it (the cases are in
tests/support/sandbox_cases.py), with the core alone, and the settings the cases do not cover.
Root is required (namespaces)."""

from __future__ import annotations

import glob
import os
import pwd
import subprocess

import pytest
from core_harness import Harness
from procwait import wait_until
from sandbox_cases import CASES

from sysmasterd.core import seccomp
from sysmasterd.core.states import JobResult

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, capabilities)")
OK, FAILED = JobResult.DONE, JobResult.FAILED


def run(h: Harness, name: str, settings: str, *commands: str) -> JobResult:
    lines = "\n".join(f"ExecStart={c}" for c in commands)
    h.write(name, f"[Service]\nType=oneshot\nWorkingDirectory=/\n{settings}\n{lines}\n")
    return h.start(name)


@pytest.mark.parametrize("case", sorted(CASES))
def test_exec_sandbox(h: Harness, case: str) -> None:
    settings, commands, starts = CASES[case]
    expected = OK if starts else FAILED
    if not seccomp.available():
        pytest.skip("libseccomp is not installed")
    tmp = h.tmp / "area"
    (tmp / "src").mkdir(parents=True)
    marker = "/tmp/sm-sandbox-marker-" + h.tmp.name
    open(marker, "w").close()
    try:
        h.boot()
        fill = {"tmp": str(tmp), "marker": marker, "procdev": str(os.stat("/proc").st_dev)}
        result = run(h, f"{case}.service", settings.format(**fill), *(c.format(**fill) for c in commands))
        assert result is expected
    finally:
        os.unlink(marker)
    assert not os.path.exists("/etc/sm-probe")


def test_procfs_options_asked_of_the_kernel() -> None:
    """The per-instance procfs options of kernel 5.8+ (this VM's is newer); an unknown value is
    left out rather than failing the mount."""
    from sysmasterd.core import procfs_options

    assert procfs_options.supported("hidepid=invisible,subset=pid") == "hidepid=invisible,subset=pid"
    assert procfs_options.supported("hidepid=sideways,subset=pid") == "subset=pid"


def test_system_call_log_audited(h: Harness) -> None:
    """SystemCallLog=: a listed call still succeeds, and the kernel's audit logs it (type=1326,
    action LOG) under the caller's PID; without auditd the record reaches the kernel log."""
    import subprocess

    if not seccomp.available():
        pytest.skip("libseccomp is not installed")
    h.boot()
    pidfile = h.tmp / "pid"
    h.write("log.service", "[Service]\nType=oneshot\nWorkingDirectory=/\nSystemCallLog=uname\n"
            f"ExecStart=/bin/sh -c 'echo $$$$ > {pidfile}; exec /bin/uname'\n")
    assert h.start("log.service") is OK
    mark = f" pid={pidfile.read_text().strip()} "

    def logged() -> bool:
        kmsg = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
        return any(mark in line and "type=1326" in line and "code=0x7ffc0000" in line for line in kmsg.splitlines())

    wait_until(logged, 5, "the audit record of uname()")


def test_private_tmp_named_and_removed(h: Harness) -> None:
    h.boot()
    h.write("pt.service", "[Service]\nPrivateTmp=yes\nExecStart=/bin/sleep 1000\n")
    assert h.start("pt.service") is OK
    dirs = glob.glob("/tmp/systemd-private-*-pt.service-*") + glob.glob("/var/tmp/systemd-private-*-pt.service-*")
    assert len(dirs) == 2
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert f.read().strip().replace("-", "") in dirs[0]
    h.stop("pt.service")
    assert not any(os.path.exists(d) for d in dirs)


def test_joins_namespace_of_shares_tmp(h: Harness) -> None:
    h.boot()
    h.write("a.service", "[Service]\nWorkingDirectory=/\nPrivateTmp=yes\n"
            "ExecStart=/bin/sh -c 'touch /tmp/shared; exec sleep 1000'\n")
    h.write("b.service", "[Unit]\nJoinsNamespaceOf=a.service\n[Service]\nType=oneshot\nWorkingDirectory=/\n"
            "PrivateTmp=yes\nExecStart=/bin/sh -c 'sleep 0.3; test -e /tmp/shared'\n")
    assert h.start("a.service") is OK
    assert h.start("b.service") is OK
    h.stop("a.service")


def test_private_network_and_ipc_shared_by_the_unit(h: Harness) -> None:
    """PrivateNetwork=/PrivateIPC=: one namespace of each for all the unit's processes, joined
    by a JoinsNamespaceOf= unit, new after the unit stopped (systemd 252's storage sockets)."""
    h.boot()
    seen = h.tmp / "seen"
    record = f"readlink /proc/self/ns/net /proc/self/ns/ipc >> {seen}"
    settings = "WorkingDirectory=/\nPrivateNetwork=yes\nPrivateIPC=yes\n"
    h.write("a.service", f"[Service]\n{settings}ExecStartPre=/bin/sh -c '{record}'\n"
            f"ExecStart=/bin/sh -c '{record}; echo $$$$ > {h.tmp}/a.pid; exec sleep 1000'\n")
    h.write("b.service", f"[Unit]\nJoinsNamespaceOf=a.service\n[Service]\nType=oneshot\n{settings}"
            f"ExecStart=/bin/sh -c '{record}'\n")

    def namespaces() -> list[tuple[str, str]]:
        lines = seen.read_text().split()
        seen.unlink()
        return list(zip(lines[::2], lines[1::2], strict=True))

    assert h.start("a.service") is OK
    assert h.start("b.service") is OK
    wait_until(lambda: len(seen.read_text().split()) == 6, 5, "three processes recorded")
    first = namespaces()
    assert len(set(first)) == 1, first
    assert first[0] != (os.readlink("/proc/self/ns/net"), os.readlink("/proc/self/ns/ipc"))
    # held open, so that the kernel cannot give a later namespace the same inode number
    pid = (h.tmp / "a.pid").read_text().strip()
    held = [os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY) for kind in ("net", "ipc")]
    try:
        h.stop("a.service")
        assert h.start("a.service") is OK
        wait_until(lambda: seen.exists() and len(seen.read_text().split()) == 4, 5, "two processes recorded")
        again = namespaces()
        assert len(set(again)) == 1 and again[0] != first[0], (first, again)
        h.stop("a.service")
    finally:
        for fd in held:
            os.close(fd)


def test_namespace_paths_are_joined(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """NetworkNamespacePath=/IPCNamespacePath=: the processes join the namespaces at those paths
    (here those of a process of the test's own, as `ip netns` would bind them), PrivateNetwork=
    then has no effect, a JoinsNamespaceOf= unit joins the same; a path that is no namespace of
    that kind fails the start with EXIT_NETWORK/EXIT_NAMESPACE."""
    h.boot()
    holder = subprocess.Popen(["unshare", "--net", "--ipc", "sleep", "1000"])
    try:
        paths = {kind: f"/proc/{holder.pid}/ns/{kind}" for kind in ("net", "ipc")}
        wait_until(lambda: all(os.readlink(p) != os.readlink(f"/proc/self/ns/{k}") for k, p in paths.items()), 5,
                   "the holder's namespaces")
        want = {kind: os.readlink(p) for kind, p in paths.items()}
        seen = h.tmp / "seen"
        record = f"/bin/sh -c 'readlink /proc/self/ns/net /proc/self/ns/ipc >> {seen}'"
        h.write("a.service", f"[Service]\nType=oneshot\nRemainAfterExit=yes\nWorkingDirectory=/\nPrivateNetwork=yes\n"
                f"NetworkNamespacePath={paths['net']}\nIPCNamespacePath={paths['ipc']}\nExecStart={record}\n")
        h.write("b.service", f"[Unit]\nJoinsNamespaceOf=a.service\n[Service]\nType=oneshot\nWorkingDirectory=/\n"
                f"PrivateNetwork=yes\nExecStart={record}\n")
        assert h.start("a.service") is OK
        assert h.start("b.service") is OK
        assert seen.read_text().split() == [want["net"], want["ipc"], want["net"], os.readlink("/proc/self/ns/ipc")]
        h.stop("a.service")
        assert run(h, "wrong-kind.service", f"NetworkNamespacePath={paths['ipc']}", "/bin/true") is FAILED
        assert h.unit("wrong-kind.service").impl.main_exec.status == 225  # EXIT_NETWORK
        assert f"Failed to open network namespace path {paths['ipc']}: Invalid argument" in caplog.text
        assert run(h, "missing.service", "IPCNamespacePath=/nonexistent-ns", "/bin/true") is FAILED
        assert h.unit("missing.service").impl.main_exec.status == 226  # EXIT_NAMESPACE
    finally:
        holder.kill()
        holder.wait()


def test_root_directory_gets_the_api_file_systems(h: Harness) -> None:
    """RootDirectory= implies MountAPIVFS=: a procfs, the host's /dev and /sys, a tmpfs on /run,
    inside the root; MountAPIVFS=no leaves the root as it is."""
    root = h.tmp / "root"
    (root / "usr").mkdir(parents=True)
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):  # merged /usr: links into it
        if os.path.islink(f"/{name}"):
            os.symlink(os.readlink(f"/{name}"), root / name)
    h.boot()
    unit = f"[Service]\nType=oneshot\nWorkingDirectory=/\nRootDirectory={root}\nBindReadOnlyPaths=/usr\n"
    h.write("chroot.service", unit + "ExecStart=/bin/sh -c 'test -e /proc/self/status && test -c /dev/null && "
            "test -d /sys/kernel && test \"$(stat -f -c %%T /run)\" = tmpfs'\n")
    assert h.start("chroot.service") is OK
    h.write("bare.service", unit + "MountAPIVFS=no\n"
            "ExecStart=/bin/sh -c 'test ! -e /proc/self && test ! -e /dev/null'\n")
    assert h.start("bare.service") is OK


def test_root_directory_namespace_is_built_inside_the_root(h: Harness) -> None:
    """With RootDirectory= the sandbox's paths are the unit's, inside the root (systemd builds the
    namespace there, then moves the root onto /): BindReadOnlyPaths=/usr, PrivateTmp=,
    TemporaryFileSystem=, InaccessiblePaths=, ProtectSystem=strict and RuntimeDirectory= (the
    host's, bound in at its path) all act in the root, and the root's own /tmp stays untouched."""
    root = h.tmp / "root"
    for d in ("usr", "etc", "tmp", "srv", "var/tmp"):
        (root / d).mkdir(parents=True)
    (root / "etc/secret").write_text("hidden\n")
    (root / "srv/old").write_text("covered\n")
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        if os.path.islink(f"/{name}"):
            os.symlink(os.readlink(f"/{name}"), root / name)  # absolute targets: resolved inside the root
    report = h.tmp / "report"
    h.boot()
    checks = ("test \"$(stat -f -c %%T /srv)\" = tmpfs && test ! -e /srv/old && "
              "! grep -q hidden /etc/secret && ! touch /etc/new && ! touch /usr/new && touch /tmp/mine && "
              "echo in-run > $RUNTIME_DIRECTORY/file && echo ok")
    h.write("rooted.service", f"[Service]\nType=oneshot\nWorkingDirectory=/\nRootDirectory={root}\n"
            "BindReadOnlyPaths=/usr\nPrivateTmp=yes\nTemporaryFileSystem=/srv\nInaccessiblePaths=/etc/secret\n"
            f"ProtectSystem=strict\nRuntimeDirectory=rd\nRuntimeDirectoryPreserve=yes\n"
            f"ExecStart=/bin/sh -c '{checks}'\nStandardOutput=file:{report}\n")
    assert h.start("rooted.service") is OK, report.read_text() if report.exists() else ""
    assert report.read_text().splitlines()[-1] == "ok"  # after the touches' "Read-only file system"
    assert os.listdir(root / "tmp") == [] and (root / "srv/old").exists()
    assert not (root / "etc/new").exists()
    assert (h.tmp / "rd/file").read_text() == "in-run\n"  # the host's RuntimeDirectory=, bound in


def test_start_only_settings_leave_control_commands_alone(h: Harness) -> None:
    """PermissionsStartOnly=: only ExecStart= runs as User= (the others like "+" commands);
    RootDirectoryStartOnly=: only ExecStart= runs in RootDirectory=."""
    root = h.tmp / "root"
    (root / "usr").mkdir(parents=True)
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        if os.path.islink(f"/{name}"):
            os.symlink(os.readlink(f"/{name}"), root / name)
    (root / "in-root").write_text("")
    out = h.tmp / "ids"
    h.boot()
    h.write("perm.service", f"[Service]\nType=oneshot\nWorkingDirectory=/\nUser=nobody\nPermissionsStartOnly=yes\n"
            f"StandardOutput=append:{out}\nExecStartPre=/usr/bin/id -u\nExecStart=/usr/bin/id -u\n"
            "ExecStartPost=/usr/bin/id -u\n")
    assert h.start("perm.service") is OK
    assert out.read_text().split() == ["0", str(pwd.getpwnam("nobody").pw_uid), "0"]
    h.write("rootonly.service", f"[Service]\nType=oneshot\nWorkingDirectory=/\nRootDirectory={root}\n"
            "BindReadOnlyPaths=/usr\nRootDirectoryStartOnly=yes\n"
            f"ExecStartPre=/bin/sh -c 'test ! -e /in-root && test -d {h.tmp}'\n"
            "ExecStart=/bin/sh -c 'test -e /in-root'\n")
    assert h.start("rootonly.service") is OK


def test_credentials(h: Harness) -> None:
    h.boot()
    secret = h.tmp / "secret"
    secret.write_text("top")
    out = h.tmp / "cred-out"
    h.write("cred.service", f"""
        [Service]
        Type=oneshot
        RemainAfterExit=yes
        LoadCredential=one:{secret}
        SetCredential=two:second\\n
        SetCredential=one:ignored
        ExecStart=/bin/sh -c 'cat "$CREDENTIALS_DIRECTORY/one" "$CREDENTIALS_DIRECTORY/two" > {out}; \
stat -c %%a "$CREDENTIALS_DIRECTORY/one" >> {out}'
    """)
    assert h.start("cred.service") is OK
    assert out.read_text() == "topsecond\n400\n"
    creds = h.tmp / "credentials" / "cred.service"
    assert creds.is_dir()
    h.stop("cred.service")
    assert not creds.exists()


def test_encrypted_credentials(h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """LoadCredentialEncrypted=/SetCredentialEncrypted= made by the real `systemd-creds encrypt`
    with a host key (kept in the test's directory, not /var/lib/systemd): the unit reads the
    plaintext; a credential encrypted under another name keeps the unit from starting."""
    import subprocess

    monkeypatch.setenv("SYSTEMD_CREDENTIAL_SECRET", str(h.tmp / "credential.secret"))

    def encrypt(name: str, text: bytes, *extra: str) -> bytes:
        return subprocess.run(["systemd-creds", "encrypt", "--with-key=host", f"--name={name}", *extra, "-", "-"],
                              input=text, capture_output=True, check=True).stdout

    loaded = h.tmp / "db.cred"
    loaded.write_bytes(encrypt("db", b"hunter2"))
    inline = b"".join(encrypt("api", b"token\n").split())
    (h.tmp / "wrong.cred").write_bytes(encrypt("other", b"x"))
    out = h.tmp / "enc-out"
    h.boot()
    h.write("enc.service", f"""
        [Service]
        Type=oneshot
        LoadCredentialEncrypted=db:{loaded}
        SetCredentialEncrypted=api:{inline.decode()}
        ExecStart=/bin/sh -c 'cat "$CREDENTIALS_DIRECTORY/db" "$CREDENTIALS_DIRECTORY/api" > {out}'
    """)
    assert h.start("enc.service") is OK
    assert out.read_text() == "hunter2token\n"
    h.write("wrong.service", f"[Service]\nType=oneshot\nLoadCredentialEncrypted=db:{h.tmp / 'wrong.cred'}\n"
            "ExecStart=/bin/true\n")
    assert h.start("wrong.service") is not OK
    # Decrypted by the child, as systemd's exec_child() does: the manager's loop never waits on it.
    assert "wrong.service: Failed to set up credentials: Failed to decrypt credential 'db'" in caplog.text
    assert h.unit("wrong.service").impl.main_exec.status == 243  # EXIT_CREDENTIALS


def test_fast_path_refuses_every_sandbox_field() -> None:
    """Every exec context field set away from its default either is one the posix_spawn() path
    handles, or makes it refuse."""
    import dataclasses

    from compat.model import ExecContext
    from sysmasterd.core import fastspawn

    for f in dataclasses.fields(ExecContext):
        if f.name in fastspawn.PARENT_OR_FAST_FIELDS:
            continue
        ctx = ExecContext()
        value = getattr(ctx, f.name)
        changed: object
        if isinstance(value, bool):
            changed = not value
        elif isinstance(value, str):
            changed = value + "x"
        elif isinstance(value, int):
            changed = value + 1
        elif isinstance(value, (list, dict, bytes)):
            changed = type(value)([1]) if not isinstance(value, dict) else {"x": 1}
        else:  # None: anything set
            changed = 1
        setattr(ctx, f.name, changed)
        assert fastspawn.full_setup_fields(ctx, True) == [f.name], f.name



DYNAMIC_CHECK = ("/usr/bin/python3 -c 'import os, sys\\n"
                 "u = os.getuid()\\n"
                 "nnp = \"NoNewPrivs:\\\\t1\" in open(\"/proc/self/status\").read()\\n"
                 "try:\\n open(\"/etc/sm-probe\", \"w\")\\n sys.exit(3)\\nexcept OSError: pass\\n"
                 "sys.exit(not (61184 <= u <= 65519 and os.getgid() == u and os.environ[\"LOGNAME\"] == \"dyn\" "
                 "and nnp and not os.listdir(\"/tmp\")))'")


SHMGET = "/usr/bin/python3 -c 'import ctypes, sys; sys.exit(ctypes.CDLL(None).shmget(0, 4096, 0o1600) < 0)'"


def test_dynamic_user_allocated_locked_and_released(h: Harness) -> None:
    """DynamicUser=: a UID in systemd's range (GID the same), the name after the unit, its implied
    sandbox (strict, private /tmp, no new privileges); the lock file naming the user and the direct:
    links live in the manager's runtime directory while the unit is up and go when it stops, with
    the SysV shared memory segment the unit left (RemoveIPC=, implied)."""
    from sysmasterd.core.dynamic_user import _HASH_KEY, UID_MIN, _clamp
    from sysmasterd.core.siphash import siphash24

    h.boot()
    h.write("dyn.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nWorkingDirectory=/\nDynamicUser=yes\n"
            f"ExecStart={DYNAMIC_CHECK}\nExecStart={SHMGET}\n")
    assert h.start("dyn.service") is OK
    locks = h.runtime / "dynamic-uid"
    uid = os.readlink(locks / "direct:dyn")
    assert int(uid) >= UID_MIN and (locks / uid).read_text() == "dyn\n"
    assert os.readlink(locks / f"direct:{uid}") == "dyn"
    assert int(uid) == _clamp(siphash24(_HASH_KEY, b"dyn"))  # free here: the hashed choice
    assert uid in _sysv_shm_owners()
    h.stop("dyn.service")
    assert os.listdir(locks) == []
    assert uid not in _sysv_shm_owners()  # RemoveIPC=, implied


def _sysv_shm_owners() -> list[str]:
    with open("/proc/sysvipc/shm") as f:
        header = f.readline().split()
        return [dict(zip(header, line.split(), strict=False))["uid"] for line in f]


def test_dynamic_user_state_directory_private(h: Harness) -> None:
    """StateDirectory= of a dynamic user: <base>/private/NAME (private/ 0700 on the host, opened in
    the unit's namespace), <base>/NAME a relative link to it, owned by the dynamic UID."""
    import shutil
    import tempfile

    from sysmasterd.core.dynamic_user import UID_MAX, UID_MIN

    base = tempfile.mkdtemp(prefix="sm-dynstate-", dir="/run")  # not /tmp: PrivateTmp= hides that
    os.chmod(base, 0o755)
    try:
        h.settings.environ["XDG_CONFIG_HOME"] = base
        h.boot()
        h.write("dstate.service", "[Service]\nType=oneshot\nWorkingDirectory=/\nDynamicUser=yes\n"
                "StateDirectory=dstate\nExecStart=/bin/sh -c 'echo hi > $STATE_DIRECTORY/f && "
                f"test \"$(stat -c %%a {base}/private)\" = 755 && test -z \"$(ls {base}/private | grep -v dstate)\"'\n")
        os.mkdir(f"{base}/private", 0o700)
        os.mkdir(f"{base}/private/other")  # another unit's: not visible to this one
        assert h.start("dstate.service") is OK
        private = os.path.join(base, "private", "dstate")
        with open(os.path.join(private, "f")) as f:
            assert f.read() == "hi\n"
        assert os.readlink(os.path.join(base, "dstate")) == "private/dstate"
        assert os.stat(os.path.join(base, "private")).st_mode & 0o777 == 0o700
        assert UID_MIN <= os.stat(private).st_uid <= UID_MAX
    finally:
        shutil.rmtree(base)
