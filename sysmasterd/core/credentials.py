"""LoadCredential= and SetCredential=: a unit's credentials under `<runtime dir>/credentials/<unit>`
($CREDENTIALS_DIRECTORY), as systemd 252's setup_credentials() lays them out.

Their *Encrypted= forms are decrypted by systemd's own `systemd-creds decrypt` (the host key in
/var/lib/systemd/credential.secret, or where $SYSTEMD_CREDENTIAL_SECRET points; a TPM2 where
there is one), which checks the name embedded in the credential against its id. Without that
tool the unit does not start, with the reason in the log.

The directory is a file system of its own (ramfs, which is never swapped out, else a small tmpfs;
a plain directory where this manager may not mount, as in a container without privileges),
filled while writable and then made read-only; files are 0400 and the directory 0500, owned by
the unit's user. Being a mount in the manager's namespace, it shows up as systemd's
`run-credentials-<unit>.mount`. Done by the manager itself before the first process of the unit
starts; removed when the unit stops.
"""

from __future__ import annotations

import base64
import errno
import os

from compat.model import Credential
from sysmasterd.core import sandbox

CREDENTIALS_TOTAL_SIZE_MAX = 1024 * 1024
CREDENTIAL_SIZE_MAX = 1024 * 1024


class CredentialError(Exception):
    pass


def directory(runtime_base: str, unit: str) -> str:
    return os.path.join(runtime_base, "credentials", unit)


def _is_mount_point(path: str) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


def _read_source(cred: Credential, store: str | None) -> list[tuple[str, bytes]]:
    """(file name, data) pairs one LoadCredential= gives: a file, or each file of a directory
    as `<id>_<name>`; a relative source comes from the manager's own credentials (`store`)."""
    assert cred.path is not None
    path = cred.path
    if not path.startswith("/"):
        if not store:
            return []
        path = os.path.join(store, path)
    if os.path.isdir(path):
        found = [(f"{cred.id}_{name}", os.path.join(path, name)) for name in sorted(os.listdir(path))]
        pairs = [(name, _read_limited(full)) for name, full in found if os.path.isfile(full)]
    else:
        pairs = [(cred.id, _read_limited(path))]
    return [(name, _decrypt(name, data)) for name, data in pairs] if cred.encrypted else pairs


def _decrypt(name: str, blob: bytes) -> bytes:
    """The plaintext of an encrypted credential (Base64, as systemd-creds writes it)."""
    import subprocess

    try:
        done = subprocess.run(["systemd-creds", "decrypt", f"--name={name}", "-", "-"], input=blob,
                              capture_output=True, timeout=30, check=False)
    except FileNotFoundError:
        raise CredentialError(f"Failed to decrypt credential '{name}': systemd-creds is not installed") from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CredentialError(f"Failed to decrypt credential '{name}': {e}") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise CredentialError(f"Failed to decrypt credential '{name}': {why[-1] if why else 'systemd-creds failed'}")
    return done.stdout


def _read_limited(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read(CREDENTIAL_SIZE_MAX + 1)
    if len(data) > CREDENTIAL_SIZE_MAX:
        raise CredentialError(f"Credential {path} is too large")
    return data


def setup(runtime_base: str, unit: str, creds: list[Credential], uid: int | None, gid: int | None,
          store: str | None = None, may_mount: bool = True) -> str:
    """Make the unit's credentials directory; returns its path. LoadCredential= wins over a
    SetCredential= of the same id, which is only the fallback."""
    top = os.path.join(runtime_base, "credentials")
    os.makedirs(top, mode=0o755, exist_ok=True)
    final = os.path.join(top, unit)
    if _is_mount_point(final):
        return final  # set up by an earlier command of this activation
    os.makedirs(final, mode=0o700, exist_ok=True)
    mounted = False
    if may_mount:
        for fstype, opts in (("ramfs", "mode=0700"),
                             ("tmpfs", f"mode=0700,nr_inodes=1024,size={CREDENTIALS_TOTAL_SIZE_MAX}")):
            try:
                sandbox.mount(fstype, final, fstype, sandbox.MS_NODEV | sandbox.MS_NOEXEC | sandbox.MS_NOSUID, opts)
                mounted = True
                break
            except OSError:
                continue
    files: dict[str, bytes] = {}
    try:
        for cred in creds:
            if cred.path is None:
                continue
            try:
                files.update(_read_source(cred, store))
            except OSError as e:
                raise CredentialError(f"Failed to read credential '{cred.id}' from {cred.path}: {e.strerror}") from e
        for cred in creds:
            if cred.data is not None and cred.id not in files:
                files[cred.id] = _decrypt(cred.id, base64.b64encode(cred.data)) if cred.encrypted else cred.data
        if sum(len(d) for d in files.values()) > CREDENTIALS_TOTAL_SIZE_MAX:
            raise CredentialError("Credentials too large")
        for name, data in files.items():
            path = os.path.join(final, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o400)
            try:
                os.write(fd, data)
                os.fchmod(fd, 0o400)
                if uid is not None or gid is not None:
                    os.fchown(fd, uid if uid is not None else -1, gid if gid is not None else -1)
            finally:
                os.close(fd)
        os.chmod(final, 0o500)
        if uid is not None or gid is not None:
            os.chown(final, uid if uid is not None else -1, gid if gid is not None else -1)
        if mounted:
            sandbox.mount(None, final, None, sandbox.MS_BIND | sandbox.MS_REMOUNT | sandbox.MS_RDONLY
                          | sandbox.MS_NODEV | sandbox.MS_NOEXEC | sandbox.MS_NOSUID)
    except BaseException:
        remove(runtime_base, unit)
        raise
    return final


def remove(runtime_base: str, unit: str) -> None:
    final = directory(runtime_base, unit)
    if _is_mount_point(final):
        try:
            sandbox.umount(final, 2)  # MNT_DETACH
        except OSError:
            pass
    try:
        os.chmod(final, 0o700)
        for name in os.listdir(final):
            os.unlink(os.path.join(final, name))
        os.rmdir(final)
    except OSError as e:
        if e.errno != errno.ENOENT:
            pass
