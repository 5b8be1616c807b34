"""The reference app's token secret: what the app refuses, and the one hmb-ops keeps per state folder
(issue #11 item 3). No database, no server."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from hmb_ops.errors import ConfigError, StateDirError
from hmb_ops.private_files import TOKEN_SECRET_ENV, TOKEN_SECRET_MIN_LENGTH, TOKEN_SECRET_PLACEHOLDER
from hmb_ops.refapp import auth, create_app
from hmb_ops.refapp.secret import secret_path, token_secret_for_run, token_secret_problem
from hmb_ops.refapp.settings import Settings, SettingsError
from hmb_ops.stack.gunicorn import GunicornProcess, _start_failure

URL = "postgresql://u:p@127.0.0.1:1/none"
GOOD = "g" * TOKEN_SECRET_MIN_LENGTH
SHORT = "s3cr3t-but-short-" + "x" * 10  # 27 characters


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- the app refuses to start without a real key ----------------------------------------------------
@pytest.mark.parametrize("env, phrase", [
    ({}, "is not set"),
    ({TOKEN_SECRET_ENV: ""}, "is empty"),
    ({TOKEN_SECRET_ENV: "   "}, "is empty"),
    ({TOKEN_SECRET_ENV: TOKEN_SECRET_PLACEHOLDER}, "placeholder"),
    ({TOKEN_SECRET_ENV: SHORT}, f"shorter than {TOKEN_SECRET_MIN_LENGTH} characters"),
    ({TOKEN_SECRET_ENV: "x" * (TOKEN_SECRET_MIN_LENGTH - 1)}, "shorter than"),
])
def test_settings_refuse_a_missing_or_weak_secret(env, phrase):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"DATABASE_URL": URL, **env})
    message = str(caught.value)
    assert message.startswith(TOKEN_SECRET_ENV) and phrase in message
    assert "\n" not in message and "secrets.token_urlsafe(32)" in message
    if env.get(TOKEN_SECRET_ENV, "").strip():
        assert env[TOKEN_SECRET_ENV] not in message  # the value is never repeated


def test_settings_take_a_secret_of_the_minimum_length_as_it_is():
    assert Settings.from_env({TOKEN_SECRET_ENV: GOOD}).token_secret == GOOD.encode()
    assert token_secret_problem(GOOD) is None


@pytest.mark.parametrize("key", [b"", b"short", TOKEN_SECRET_PLACEHOLDER.encode()])
def test_app_built_from_hand_made_settings_refuses_a_weak_key(key):
    with pytest.raises(SettingsError, match=TOKEN_SECRET_ENV):
        create_app(Settings(database_url=URL, token_secret=key))


def test_no_key_derived_from_the_database_url_anymore():
    # The old fallback: sha256("hmb-refapp-token:" + DATABASE_URL). Whoever holds the URL (or a
    # password-less one) could sign a token for any user.
    old_key = hashlib.sha256(b"hmb-refapp-token:" + URL.encode()).digest()
    app = create_app(Settings.from_env({"DATABASE_URL": URL, TOKEN_SECRET_ENV: GOOD}))
    forged = auth.issue(1, old_key, 600)
    r = app.test_client().get("/api/feed", headers={"Authorization": "Bearer " + forged})
    assert r.status_code == 401 and r.json["message"] == "bad token signature"


# -- hmb-ops's own key, one per state folder --------------------------------------------------------
def test_state_folder_secret_is_created_once_private_and_reused(tmp_path):
    state = tmp_path / "state"
    first, source = token_secret_for_run(state, {})
    assert token_secret_problem(first) is None and len(first) >= TOKEN_SECRET_MIN_LENGTH
    path = secret_path(state)
    assert source == str(path) and path.read_text().strip() == first
    assert mode(path) == 0o600 and mode(path.parent) == 0o700 and mode(state) == 0o700
    assert token_secret_for_run(state, {}) == (first, source)


def test_two_state_folders_get_different_secrets(tmp_path):
    a, _ = token_secret_for_run(tmp_path / "a", {})
    b, _ = token_secret_for_run(tmp_path / "b", {})
    assert a != b


def test_existing_wide_folder_and_file_are_narrowed(tmp_path):
    path = secret_path(tmp_path)
    path.parent.mkdir(mode=0o755)
    os.chmod(path.parent, 0o755)
    path.write_text(GOOD + "\n")
    os.chmod(path, 0o644)
    assert token_secret_for_run(tmp_path, {}) == (GOOD, str(path))
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def test_environment_secret_wins_and_creates_no_file(tmp_path):
    assert token_secret_for_run(tmp_path, {TOKEN_SECRET_ENV: GOOD}) == (GOOD, f"environment {TOKEN_SECRET_ENV}")
    assert not secret_path(tmp_path).exists()
    # An empty variable is the same as none: the state folder's key is used.
    value, source = token_secret_for_run(tmp_path, {TOKEN_SECRET_ENV: ""})
    assert source == str(secret_path(tmp_path)) and value != GOOD


@pytest.mark.parametrize("value", [TOKEN_SECRET_PLACEHOLDER, SHORT])
def test_weak_environment_secret_is_bad_input(tmp_path, value):
    with pytest.raises(ConfigError) as caught:
        token_secret_for_run(tmp_path, {TOKEN_SECRET_ENV: value})
    assert caught.value.exit_code == 2
    text = caught.value.one_line()
    assert TOKEN_SECRET_ENV in text and "unset it" in text and str(secret_path(tmp_path)) in text
    assert SHORT not in text


@pytest.mark.parametrize("content", [b"", b"tiny-kq7\n", TOKEN_SECRET_PLACEHOLDER.encode(), b"\xff" * 40])
def test_unusable_stored_secret_is_an_error_that_says_what_to_delete(tmp_path, content):
    path = secret_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        token_secret_for_run(tmp_path, {})
    assert str(path) in caught.value.one_line() and "delete" in caught.value.one_line()
    if content.strip() and content.isascii():
        assert content.decode().strip() not in caught.value.one_line().replace(str(path), "")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_unwritable_state_folder_is_a_state_dir_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        with pytest.raises(StateDirError, match="token secret"):
            token_secret_for_run(locked, {})
    finally:
        os.chmod(locked, 0o700)


def test_state_folder_that_is_a_file_is_a_state_dir_error(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("not a folder")
    with pytest.raises(StateDirError, match="token secret") as caught:
        token_secret_for_run(blocker, {})
    assert caught.value.exit_code == 3


# -- the Gunicorn runner always hands the app a key -----------------------------------------------------
def test_runner_passes_the_given_key_over_a_placeholder(monkeypatch):
    monkeypatch.setenv(TOKEN_SECRET_ENV, TOKEN_SECRET_PLACEHOLDER)
    proc = GunicornProcess(URL, env={TOKEN_SECRET_ENV: TOKEN_SECRET_PLACEHOLDER}, token_secret=GOOD)
    assert proc.environment()[TOKEN_SECRET_ENV] == GOOD


@pytest.mark.parametrize("inherited", [None, "", TOKEN_SECRET_PLACEHOLDER])
def test_runner_without_a_key_makes_a_random_one_per_process_object(monkeypatch, inherited):
    if inherited is None:
        monkeypatch.delenv(TOKEN_SECRET_ENV, raising=False)
    else:
        monkeypatch.setenv(TOKEN_SECRET_ENV, inherited)
    one, two = GunicornProcess(URL), GunicornProcess(URL)
    key = one.environment()[TOKEN_SECRET_ENV]
    assert token_secret_problem(key) is None
    assert one.environment()[TOKEN_SECRET_ENV] == key  # stable for the life of the object (restarts)
    assert two.environment()[TOKEN_SECRET_ENV] != key


def test_runner_leaves_an_explicit_key_alone(monkeypatch):
    monkeypatch.setenv(TOKEN_SECRET_ENV, GOOD)
    assert GunicornProcess(URL).environment()[TOKEN_SECRET_ENV] == GOOD
    # A weak one set on purpose is passed through: the app then refuses it with its own message.
    assert GunicornProcess(URL, env={TOKEN_SECRET_ENV: SHORT}).environment()[TOKEN_SECRET_ENV] == SHORT


def test_start_failure_prefers_the_apps_own_reason(tmp_path):
    log = tmp_path / "gunicorn.log"
    reason = "HMB_REFAPP_TOKEN_SECRET is not set: set it"
    log.write_text("[t] [1] [INFO] Booting worker with pid: 2\n"
                   f"{reason}\n"
                   "[t] [2] [INFO] Worker exiting (pid: 2)\n"
                   "[t] [1] [ERROR] Worker (pid:2) exited with code 4.\n"
                   "Traceback (most recent call last):\n"
                   "  File \"x\", line 1\n"
                   "gunicorn.errors.HaltServer: <HaltServer 'App failed to load.' 4>\n")
    assert _start_failure(log) == reason
    log.write_text("Traceback (most recent call last):\n  File \"x\", line 1\n"
                   f"gunicorn.errors.AppImportError: {reason}\n")
    assert _start_failure(log) == reason
    log.write_text("[t] [1] [INFO] Starting gunicorn\n[t] [1] [ERROR] something else\n")
    assert _start_failure(log) == "[t] [1] [ERROR] something else"
    assert _start_failure(tmp_path / "missing.log") == ""
