"""`tune check` on the fixture projects in tests/fixtures/deploy_projects: every deploy file kind,
every disagreement with both places (file:line), and deploy files that do not parse (file:line)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hmb_ops.errors import ConfigError
from hmb_ops.tune.check import check_directory

PROJECTS = Path(__file__).resolve().parents[2] / "fixtures" / "deploy_projects"


def drift(report, key):
    found = [f for f in report.findings if f.kind == "drift" and f.key == key]
    assert found, f"no {key} drift in {[f.message for f in report.findings]}"
    return {v["surface"]: (v["value"], v["place"]) for v in found[0].values}


def test_seed_layout_every_disagreement_with_both_places():
    report = check_directory(PROJECTS / "seed_layout")
    assert set(report.files) == {"Procfile", "Dockerfile", "nixpacks.toml", "railway.toml"}
    app = drift(report, "app")
    assert app["Procfile web"] == ("app.main:app", "Procfile:1")
    assert app["Dockerfile CMD"] == ("api.index:app", "Dockerfile:8")   # inside sh -c "..."
    workers = drift(report, "workers")
    assert workers == {"Procfile web": (1, "Procfile:1"), "Dockerfile CMD": (1, "Dockerfile:8"),
                       "nixpacks.toml start.cmd": (4, "nixpacks.toml:6"),
                       "railway.toml deploy.startCommand": (5, "railway.toml:5")}
    assert drift(report, "timeout")["nixpacks.toml start.cmd"] == (60, "nixpacks.toml:6")
    msg = next(f.message for f in report.findings if f.key == "workers")
    assert "Dockerfile:8" in msg and "railway.toml:5" in msg
    # threads do nothing for a Uvicorn worker: said for each surface that sets them
    no_effect = [f for f in report.findings if f.kind == "no_effect"]
    assert {f.values[0]["place"] for f in no_effect} == {"Procfile:1", "Dockerfile:8", "nixpacks.toml:6"}
    assert all("no effect with uvicorn.workers.UvicornWorker" in f.message for f in no_effect)
    assert any("deprecated" in f.message for f in report.findings if f.kind == "worker_class")


def test_fly_processes_only_the_web_one_checked():
    report = check_directory(PROJECTS / "fly_processes")
    names = {s.name for s in report.surfaces}
    assert "fly.toml process app" in names and "fly.toml process worker" not in names
    assert any(n.startswith("fly.toml process worker (fly.toml:10)") for n in report.not_checked)
    workers = drift(report, "workers")
    assert workers["fly.toml process app"] == (3, "fly.toml:5")    # [env] WEB_CONCURRENCY
    assert workers["Procfile web"] == (2, "Procfile:1")


def test_compose_web_services_checked_the_rest_named():
    report = check_directory(PROJECTS / "compose_services")
    assert {s.name for s in report.surfaces} == {"docker-compose.yml web", "docker-compose.yml api"}
    assert any("docker-compose.yml db" in n and "postgres:15" in n for n in report.not_checked)
    assert any("docker-compose.yml worker" in n and "celery" in n for n in report.not_checked)
    web = next(s for s in report.surfaces if s.name == "docker-compose.yml web")
    assert web.settings["workers"] == 6          # ${WEB_WORKERS:-3} with .env's WEB_WORKERS=6
    api = next(s for s in report.surfaces if s.name == "docker-compose.yml api")
    assert api.server == "uvicorn" and api.settings["workers"] == 2
    assert not any("does not start" in f.message or "neither" in f.message for f in report.findings)
    pool = next(f for f in report.findings if f.key == "db_pool_max")
    places = {(c["value"], c["place"]) for c in pool.values}
    assert places == {(8, "docker-compose.yml:7"), (5, "docker-compose.yml:13")}
    assert "docker-compose.yml:7" in pool.message and "docker-compose.yml:13" in pool.message


def test_shell_form_cmd_with_variables():
    report = check_directory(PROJECTS / "shell_cmd")
    docker = next(s for s in report.surfaces if s.name == "Dockerfile CMD")
    assert docker.line == 5
    assert docker.settings["app"] == "shop.wsgi:app"      # ENV APP_MODULE
    assert docker.settings["workers"] == 2                # ENV WEB_CONCURRENCY over the :-4 default
    assert docker.settings["threads"] == 8                # ENV GUNICORN_THREADS 8 (space form)
    assert docker.unknown == {"timeout": "$REQUEST_TIMEOUT"}
    assert docker.settings["timeout"] is None
    assert drift(report, "threads") == {"Procfile web": (4, "Procfile:1"), "Dockerfile CMD": (8, "Dockerfile:5")}
    assert not [f for f in report.findings if f.key == "timeout"]   # unknown is not a disagreement


def test_uvicorn_standalone_render_railway_json_app_json():
    report = check_directory(PROJECTS / "mixed_platforms")
    api = next(s for s in report.surfaces if s.name == "render.yaml shop-api")
    assert api.server == "uvicorn" and api.settings["workers"] == 4
    assert not [f for f in report.findings if "does not start" in f.message or "neither" in f.message]
    assert any(n.startswith("render.yaml shop-jobs") for n in report.not_checked)
    workers = drift(report, "workers")
    assert workers["railway.json deploy.startCommand"] == (3, "railway.json:5")
    assert workers["Procfile web"] == (5, "app.json:4")            # app.json env through the config
    assert workers["gunicorn.conf.py"] == (2, "gunicorn.conf.py:3")
    assert workers["render.yaml shop-api"] == (4, "render.yaml:5")


@pytest.mark.parametrize("name, line, words", [
    ("railway.toml", 2, "TOML syntax error"),
    ("railway.json", 4, "JSON syntax error"),
    ("docker-compose.yml", 4, "YAML syntax error"),
    ("Procfile", 2, "not a `type: command` line"),
    ("Dockerfile", 3, "ENV has no arguments"),
    ("fly.toml", 3, "TOML syntax error"),
])
def test_a_deploy_file_that_does_not_parse(tmp_path, name, line, words):
    shutil.copy(PROJECTS / "broken" / name, tmp_path / name)
    with pytest.raises(ConfigError) as exc:
        check_directory(tmp_path)
    msg = exc.value.one_line()
    assert f"{name}:{line}:" in msg and words in msg
    assert "\n" not in msg


def test_pool_mode_conflicts_from_a_deploy_files_environment(tmp_path):
    # PgBouncer in transaction mode with asyncpg's statement cache on (hmb_ops.tune.pgbouncer's rule).
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  api:\n    command: uvicorn shop.asgi:app --workers 2\n    environment:\n"
        "      PGBOUNCER_POOL_MODE: transaction\n"
        "      DATABASE_URL: postgresql+asyncpg://shop@pgbouncer:6432/shop\n")
    report = check_directory(tmp_path)
    found = [f for f in report.findings if f.kind == "pool_mode"]
    assert len(found) == 1
    assert found[0].message.startswith("docker-compose.yml api (docker-compose.yml:3): asyncpg's statement cache is on")


def test_dockerfile_arg_defaults_feed_env(tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11\nARG WORKERS=3\nENV WEB_CONCURRENCY=$WORKERS\nCMD gunicorn app:app\n")
    report = check_directory(tmp_path)
    assert report.surfaces[0].settings["workers"] == 3
    assert report.surfaces[0].places["workers"] == "Dockerfile:3"


def test_secrets_in_the_new_deploy_files_are_never_printed(tmp_path):
    import json

    (tmp_path / "Dockerfile").write_text(
        'FROM python:3.11\nENV DATABASE_URL=postgresql://app:hunter2pw@db/app SECRET_KEY=s3cr3tvalue\n'
        'CMD API_TOKEN=tok3nvalue python serve.py --password pa55word\n')
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  jobs:\n    command: celery -A x worker --broker redis://:redispw99@cache:6379/0\n")
    text = json.dumps(check_directory(tmp_path).to_dict())
    for secret in ("hunter2pw", "s3cr3tvalue", "tok3nvalue", "pa55word", "redispw99"):
        assert secret not in text, secret


def test_bind_hosts_are_compared(tmp_path):
    (tmp_path / "Procfile").write_text("web: gunicorn app:app --bind 0.0.0.0:$PORT\n")
    (tmp_path / "Dockerfile").write_text(
        'FROM python:3.11\nENV PORT=8000\nCMD ["gunicorn", "app:app", "-b", "127.0.0.1:8000"]\n')
    report = check_directory(tmp_path)
    assert drift(report, "bind") == {"Procfile web": ("0.0.0.0:$PORT", "Procfile:1"),
                                     "Dockerfile CMD": ("127.0.0.1:8000", "Dockerfile:3")}
    (tmp_path / "Dockerfile").write_text('FROM python:3.11\nCMD ["gunicorn", "app:app", "-b", "0.0.0.0:8000"]\n')
    assert not [f for f in check_directory(tmp_path).findings if f.key == "bind"]


def test_sync_with_threads_is_gthread_not_drift(tmp_path):
    # Gunicorn loads gthread when the worker class is sync and threads > 1 (Config.worker_class_str).
    (tmp_path / "Procfile").write_text("web: gunicorn app:app -w 3 --threads 2\n")
    (tmp_path / "railway.toml").write_text('[deploy]\nstartCommand = "gunicorn app:app -w 3 -k gthread --threads 2"\n')
    report = check_directory(tmp_path)
    assert [s.settings["worker_class"] for s in report.surfaces] == ["gthread", "gthread"]
    assert report.ok, [f.message for f in report.findings]


def test_a_quoted_env_value_with_a_comment_after_it(tmp_path):
    # docker compose and python-dotenv read KEY="3" # comment as 3; it was kept as '"3"' (drift against 3).
    from hmb_ops.tune.deploy.env_files import parse

    (tmp_path / ".env").write_text("WEB_CONCURRENCY=\"3\" # three\nA='x y' #c\nB=plain # c\nC=\"#not a comment\"\n")
    env, _lines = parse(tmp_path / ".env", (tmp_path / ".env").read_text())
    assert env == {"WEB_CONCURRENCY": "3", "A": "x y", "B": "plain", "C": "#not a comment"}
    (tmp_path / "prod.env").write_text("WEB_CONCURRENCY=3\n")
    assert [f.message for f in check_directory(tmp_path).findings if f.key == "workers"] == []


def test_a_config_value_gunicorn_refuses_is_its_line(tmp_path):
    # `workers = -3` in gunicorn.conf.py stops Gunicorn at start-up; it was reported as no drift.
    (tmp_path / "gunicorn.conf.py").write_text('bind = "0.0.0.0:8000"\nworkers = -3\n')
    (tmp_path / "Procfile").write_text("web: gunicorn app:app\n")
    with pytest.raises(ConfigError) as caught:
        check_directory(tmp_path)
    assert caught.value.line == 2 and "Gunicorn rejects workers = -3: Value must be positive: -3" in str(caught.value)
    # this machine's users and folders are not the deploy target's
    (tmp_path / "gunicorn.conf.py").write_text('workers = 2\nuser = "nosuchuser"\nchdir = "/nonexistent/app"\n')
    assert check_directory(tmp_path).surfaces[0].settings["workers"] == 2


def test_a_missing_env_file_of_a_compose_service(tmp_path):
    # docker compose refuses to start a service whose env_file is missing; it was ignored silently.
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  web:\n    command: gunicorn app:app\n    env_file:\n      - web.env\n"
        "      - path: local.env\n        required: false\n")
    with pytest.raises(ConfigError) as caught:
        check_directory(tmp_path)
    assert caught.value.line == 5 and "service 'web': env_file web.env does not exist" in str(caught.value)
    (tmp_path / "web.env").write_text("WEB_CONCURRENCY=3\n")
    report = check_directory(tmp_path)   # local.env is `required: false`: absent is fine
    assert report.surfaces[0].settings["workers"] == 3
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  web:\n    command: gunicorn app:app\n    env_file: [{path: prod.env}]\n")
    with pytest.raises(ConfigError) as caught:
        check_directory(tmp_path)
    assert caught.value.line == 4 and "env_file prod.env does not exist" in str(caught.value)
