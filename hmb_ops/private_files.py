"""Secret files and folders, private from the first byte.

A file created with the default umask and chmod'ed afterwards is readable by anyone for a moment,
and a folder created 0755 exposes every name in it: both are created here with their final mode
by the ``open``/``mkdir`` call itself (the umask can only remove bits, so the mode passed is the
most the file ever has).
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike, mode: int = DIR_MODE) -> Path:
    """Create `path` (and missing parents) with `mode`; an existing folder is narrowed to it."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:  # created by a concurrent process in between
            pass
    if os.stat(path).st_mode & 0o777 != mode:
        os.chmod(path, mode)
    return path


def write_private(path: str | os.PathLike, text: str, mode: int = FILE_MODE, *, create_only: bool = False) -> Path:
    """Write `text` to `path` whole or not at all, never wider open than `mode` at any moment.

    The content goes to a fresh sibling created owner-only and widened to `mode` once complete,
    then renamed over `path`, so a reader sees the old file or the whole new one. `create_only`:
    link it into place only if nothing is at `path` yet (FileExistsError otherwise), so a file
    somebody made meanwhile is never replaced.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE & mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        if create_only:
            os.link(tmp, path)
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_or_create_secret(path: str | os.PathLike, make) -> str:
    """The secret stored at `path`, or a new one from `make()` stored there first (0600).

    Two processes racing here agree on one value: the file is linked into place only if absent.
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    private_dir(path.parent)
    value = make()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    try:
        os.link(tmp, path)  # fails if another process got there first: then its value wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()


# The reference app's token key. One declaration for the app (which refuses to start without a
# real one), for `tune` (which writes the placeholder) and for hmb-ops's own runs (which generate one
# per state folder and pass it in the environment).
TOKEN_SECRET_ENV = "HMB_REFAPP_TOKEN_SECRET"
TOKEN_SECRET_PLACEHOLDER = "replace-with-output-of-python3-c-import-secrets-print-secrets-token-urlsafe-32"
TOKEN_SECRET_MIN_LENGTH = 32


def new_token_secret() -> str:
    import secrets

    return secrets.token_urlsafe(32)
