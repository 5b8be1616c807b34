"""Start commands parsed as the shell, Gunicorn and Uvicorn parse them (hmb_ops.tune.cmdline)."""

from __future__ import annotations

from hmb_ops.tune.cmdline import parse_command


def test_gunicorn_flags_through_gunicorns_parser():
    c = parse_command("gunicorn app.main:app -k uvicorn.workers.UvicornWorker -w 5 --threads=2 --preload -t 60")
    assert c.server == "gunicorn"
    assert c.settings == {"app": "app.main:app", "worker_class": "uvicorn.workers.UvicornWorker", "workers": 5,
                          "threads": 2, "preload_app": True, "timeout": 60}


def test_sh_c_is_unwrapped_in_exec_and_shell_form():
    inner = "gunicorn api.index:app --bind 0.0.0.0:${PORT:-8000} --workers 1"
    for cmd in (["sh", "-c", inner], f'/bin/sh -c "{inner}"', ["bash", "-lc", inner]):
        c = parse_command(cmd, {})
        assert c.wrapped and c.server == "gunicorn"
        assert c.settings["workers"] == 1 and c.settings["bind"] == "0.0.0.0:8000"
        assert any("$PORT is not set here" in n for n in c.notes)


def test_variables_resolved_from_env_and_unknown_ones_reported():
    c = parse_command("WEB_CONCURRENCY=3 exec gunicorn $APP --workers $WEB_CONCURRENCY --threads $NOPE",
                      {"APP": "shop.wsgi:app"})
    assert c.inline_env == {"WEB_CONCURRENCY": "3"}
    assert c.settings["app"] == "shop.wsgi:app" and c.settings["workers"] == 3
    assert c.unknown == {"threads": "$NOPE"} and "threads" not in c.settings


def test_uvicorn_without_gunicorn_is_a_server():
    c = parse_command("uvicorn app.main:app --workers 4 --host 0.0.0.0 --port 8080 --timeout-keep-alive 7")
    assert c.server == "uvicorn"
    assert c.settings == {"worker_class": "uvicorn", "app": "app.main:app", "workers": 4, "keepalive": 7,
                          "bind": "0.0.0.0:8080"}
    # uvicorn's --workers defaults to $WEB_CONCURRENCY
    assert parse_command(["python", "-m", "uvicorn", "a:b"], {"WEB_CONCURRENCY": "3"}).settings["workers"] == 3


def test_our_uvicorn_environment_does_not_leak(monkeypatch):
    monkeypatch.setenv("UVICORN_WORKERS", "9")
    assert "workers" not in parse_command("uvicorn a:b").settings


def test_other_programs_and_compound_commands():
    assert parse_command("python -m app.worker").server is None
    c = parse_command("cd src && poetry run gunicorn a:b -w 2")
    assert c.server == "gunicorn" and not c.simple and c.settings["workers"] == 2


def test_bad_arguments_are_one_line_errors():
    assert "invalid int value: 'abc'" in parse_command("gunicorn --workers abc a:b").error
    assert parse_command("uvicorn a:b --bogus").error.startswith("uvicorn rejects these arguments")
    assert parse_command('gunicorn "a:b').error.startswith("cannot split")


def test_gunicorn_cmd_args_environment():
    c = parse_command("gunicorn a:b --threads 2", {"GUNICORN_CMD_ARGS": "--workers 7 --threads 3"})
    assert c.settings["workers"] == 7 and c.settings["threads"] == 2   # the command line wins


def test_port_is_the_platforms_and_kept_as_written():
    g = parse_command("gunicorn a:b --bind 0.0.0.0:$PORT")
    assert g.settings["bind"] == "0.0.0.0:$PORT" and not g.unknown
    u = parse_command("uvicorn a:b --host 0.0.0.0 --port $PORT --workers 2")
    assert u.error is None and u.settings["bind"] == "0.0.0.0:$PORT" and u.settings["workers"] == 2
    assert parse_command("uvicorn a:b --port $PORT", {"PORT": "9000"}).settings["bind"] == "127.0.0.1:9000"


def test_values_gunicorns_validators_refuse_are_errors():
    # argparse takes `-w -3`; Gunicorn's validator then stops it at start-up.
    bad = parse_command("gunicorn app:app -w -3")
    assert bad.error == "gunicorn rejects these arguments: workers=-3: Value must be positive: -3"
    assert parse_command("gunicorn app:app --keep-alive -1").error.startswith("gunicorn rejects these arguments: "
                                                                               "keepalive=-1")
    # users, groups and folders of the machine it deploys to are not checked against this one
    ok = parse_command("gunicorn app:app -w 2 --user nosuchuser --group nosuchgroup --chdir /nonexistent/app "
                       "--reload-extra-file /nonexistent/x.html")
    assert ok.error is None and ok.settings["workers"] == 2
