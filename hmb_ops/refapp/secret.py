"""The reference app's token key: what the app accepts, and the one hmb-ops keeps per state folder.

The app signs its login tokens with HMB_REFAPP_TOKEN_SECRET and refuses to start without a real one
(unset, empty, the placeholder `tune` writes, or too short to resist guessing). hmb-ops's own runs
(`app serve`, `loadtest`, `capacity`) use a random key generated once per state folder and kept in
``<state dir>/secrets/refapp_token_secret`` (0600, folder 0700), so tokens survive a restart of
`app serve` and two state folders never share a key. A key set in hmb-ops's environment wins.

The value itself is never part of a message, a log line or a document: only its source is named.
Light imports only: the Gunicorn runner and the CLI use this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from hmb_ops.private_files import (
    FILE_MODE,
    TOKEN_SECRET_ENV,
    TOKEN_SECRET_MIN_LENGTH,
    TOKEN_SECRET_PLACEHOLDER,
    new_token_secret,
    private_dir,
    read_or_create_secret,
)

SECRET_FILE = Path("secrets") / "refapp_token_secret"
MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def token_secret_problem(value: str | None) -> str | None:
    """Why `value` cannot be the token key (a phrase after the variable's name), None when it can."""
    if value is None:
        return "is not set"
    if not value.strip():
        return "is empty"
    if value.strip() == TOKEN_SECRET_PLACEHOLDER:
        return "still holds the placeholder that `hmb-ops tune` writes"
    if len(value) < TOKEN_SECRET_MIN_LENGTH:
        return f"is shorter than {TOKEN_SECRET_MIN_LENGTH} characters"
    return None


def app_secret_message(problem: str) -> str:
    """The app's one-line refusal to start."""
    return (f"{TOKEN_SECRET_ENV} {problem}: the reference app signs its login tokens with it; "
            f"set it to a random value of at least {TOKEN_SECRET_MIN_LENGTH} characters, "
            f"for example the output of: {MAKE_ONE}")


def secret_path(state_dir: str | os.PathLike) -> Path:
    return Path(state_dir).absolute() / SECRET_FILE


def token_secret_for_run(state_dir: str | os.PathLike, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(key, where it came from) for an app hmb-ops serves: the environment's, else the state folder's.

    A bad value in the environment is an error (exit 2) rather than silently replaced: whoever set
    it expects the app to use it.
    """
    from hmb_ops.errors import ConfigError, StateDirError

    environ = os.environ if environ is None else environ
    given = environ.get(TOKEN_SECRET_ENV)
    path = secret_path(state_dir)
    if given is not None and given.strip():
        problem = token_secret_problem(given)
        if problem:
            raise ConfigError(f"{TOKEN_SECRET_ENV} in the environment {problem}",
                              hint=f"set a random value of at least {TOKEN_SECRET_MIN_LENGTH} characters "
                                   f"({MAKE_ONE}), or unset it to use the one hmb-ops keeps in {path}")
        return given, f"environment {TOKEN_SECRET_ENV}"
    try:
        private_dir(path.parent)  # narrows a folder made before this rule existed
        value = read_or_create_secret(path, new_token_secret)
        if os.stat(path).st_mode & 0o777 != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except OSError as exc:
        raise StateDirError(f"cannot keep the reference app's token secret in {path}: {exc.strerror or exc}",
                            hint="check the state folder's permissions or choose another --state-dir") from None
    except UnicodeDecodeError:
        value, problem = "", "is not UTF-8 text"
    else:
        problem = token_secret_problem(value)
    if problem:
        raise ConfigError(f"{path} holds no usable token secret: the value {problem}",
                          hint="delete the file and hmb-ops writes a new one at the next run")
    return value, str(path)
