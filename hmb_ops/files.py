"""Reading a user's file safely: a regular file of bounded size, or one ConfigError (exit 2).

One low module (it imports only `errors`) so settings (YAML), documents (results JSON) and the
load generator (CSV feeders) share one check instead of keeping copies.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hmb_ops.errors import ConfigError


def read_limited(path: str | os.PathLike, *, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is a ConfigError.

    Checked on the open descriptor (fstat), so a FIFO, a device such as /dev/zero or a folder is
    refused before anything is read, and a file that grows while read is cut at the limit.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", path=str(p), hint="check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"is a directory, not a {what}", path=str(p)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc.__class__.__name__}", path=str(p)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"is a directory, not a {what}", path=str(p))
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"not a regular file (a device, FIFO or socket); give a {what}", path=str(p))
        if st.st_size > limit:
            raise ConfigError(f"too large ({st.st_size:,} bytes; the limit is {limit:,})", path=str(p))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc.__class__.__name__}", path=str(p)) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ConfigError(f"too large (more than {limit:,} bytes)", path=str(p))
    return data
