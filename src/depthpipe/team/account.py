"""The Unix user a stack's daemons run as, and the private files and folders they read.

Run by an ordinary user, every part runs as that user. PostgreSQL refuses to run as root, so for root it runs
as a system user of its own, :data:`SERVICE_USER` (created with ``useradd --system`` on first use), never as a
shared one such as ``nobody``. Every data folder is mode 0700 and owned by the user that runs its part; every
file holding a secret is mode 0600.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from depthpipe.errors import DepthpipeError

SERVICE_USER = "depthpipe-team"
# held while a system user is made (opened without following links: /run/lock and /tmp are sticky shared folders)
USERADD_LOCK = Path("/run/lock" if Path("/run/lock").is_dir() else tempfile.gettempdir()) / "depthpipe-useradd.lock"


def postgres_user() -> str | None:
    """The user PostgreSQL runs as: None (this one), or :data:`SERVICE_USER` for root (created when missing)."""
    if os.geteuid() != 0:
        return None
    system_user(SERVICE_USER)
    return SERVICE_USER


def system_user(name: str) -> int:
    """The uid of the system user ``name``, made with ``useradd --system`` when missing.

    Creation holds a lock: two ``useradd`` at once (two stacks started side by side) can both succeed and leave a
    uid in one process's hands that the other rewrote out of ``/etc/passwd``.
    """
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        pass
    fd = os.open(USERADD_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            pass
        useradd = shutil.which("useradd")
        done = (
            subprocess.run(
                [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                capture_output=True,
                text=True,
                check=False,
            )
            if useradd
            else None
        )
        if done is None or done.returncode != 0:
            why = done.stderr.strip() if done is not None else "no useradd on PATH"
            raise DepthpipeError(
                f"PostgreSQL refuses to run as root and the user '{name}' could not be created ({why}); "
                f"create it, or run `depthpipe team up` as an ordinary user"
            )
        return pwd.getpwnam(name).pw_uid
    finally:
        os.close(fd)


def ids(user: str | None) -> tuple[int, int]:
    """(uid, gid) of ``user`` (None: this process's)."""
    if user is None:
        return os.geteuid(), os.getegid()
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def private_dir(path: Path, user: str | None = None) -> Path:
    """``path`` as a folder of mode 0700 owned by ``user`` (None: this one)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    if user is not None:
        os.chown(path, *ids(user))
    return path


def private_file(path: Path, text: str, user: str | None = None) -> Path:
    """Write ``text`` to ``path`` (mode 0600 from its creation, owned by ``user``), replacing it whole."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    if user is not None:
        os.chown(tmp, *ids(user))
    os.replace(tmp, path)
    return path
