"""Typed errors raised by the core; the CLI entry point alone turns them into exit codes.

Every message is one line that says what went wrong and what to do about it. Messages must never
contain a password: build them from masked DSNs (``hmb_ops.db.dsn.mask``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Every exit code hmb-ops returns (the README's table); no other number is ever used."""

    OK = 0
    CHECK_FAILED = 1   # a check ran and said no (SLO breach, drift, a stopped server for `db status`)
    BAD_INPUT = 2      # usage or configuration: fix the command line or the file
    ENVIRONMENT = 3    # the machine or a service is unusable: database down, port taken, binary missing
    INTERNAL = 70      # a bug in hmb-ops (EX_SOFTWARE from sysexits.h)
    INTERRUPTED = 130  # Ctrl-C / SIGTERM (128 + SIGINT, what shells report)


# The names the code used before the enum; the same members.
EXIT_OK = ExitStatus.OK
EXIT_CHECK_FAILED = ExitStatus.CHECK_FAILED
EXIT_BAD_INPUT = ExitStatus.BAD_INPUT
EXIT_ENVIRONMENT = ExitStatus.ENVIRONMENT


class HmbOpsError(Exception):
    """Base class: a problem a user can cause or fix. Never shown with a traceback (unless --debug)."""

    exit_code: int = ExitStatus.BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = " ".join(self.message.split())
        if self.hint:
            text = f"{text} ({' '.join(self.hint.split())})"
        return text


class UsageError(HmbOpsError):
    """Bad input on the command line: a value out of range, conflicting options."""

    exit_code = ExitStatus.BAD_INPUT


class ConfigError(HmbOpsError):
    """A YAML file or a spec that cannot be used: syntax, type, unknown key, unknown name."""

    exit_code = ExitStatus.BAD_INPUT

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None, hint: str | None = None):
        where = ""
        if path:
            where = str(path) + (f":{line}" if line else "")
        parts = [p for p in (where, f"field '{field}'" if field else "") if p]
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message, hint=hint)
        self.path, self.line, self.field = path, line, field


class InvalidDatabaseUrl(HmbOpsError):
    exit_code = ExitStatus.BAD_INPUT


class EnvironmentUnusable(HmbOpsError):
    """The machine or a service is not usable: unreachable database, port in use, missing binary."""

    exit_code = ExitStatus.ENVIRONMENT


class DatabaseUnavailable(EnvironmentUnusable):
    pass


class PortInUse(EnvironmentUnusable):
    pass


class StateDirError(EnvironmentUnusable):
    pass


class LockBusy(EnvironmentUnusable):
    """Another hmb-ops process holds a lock we need (for example a concurrent `indexes apply`)."""


class CheckFailed(HmbOpsError):
    """A check ran and found problems (drift, SLO breach, verify failure). The report is already out."""

    exit_code = ExitStatus.CHECK_FAILED


class OperationFailed(HmbOpsError):
    """A step that was started failed in a way the user must act on (a unique build hit duplicates)."""

    exit_code = ExitStatus.CHECK_FAILED
