"""tune on a user's own app from its folder (tests/fixtures/deploy_projects/user_app, not the reference
app): --chdir/--pythonpath for --check-config and --measure-memory, a warm-up that reads the
database, and the bad inputs (a --chdir that does not exist, an app that fails to import)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import error_line
from tests.conftest import run_hmb

USER_APP = Path(__file__).resolve().parents[2] / "fixtures" / "deploy_projects" / "user_app"
APP = "notes.app:application"


def tune(*args, cwd=None, env=None, timeout=180):
    return run_hmb(["tune", "--tier", "small", "--app", APP, *args], cwd=cwd, env=env, timeout=timeout)


def test_check_config_imports_the_app_from_its_folder(tmp_path):
    r = tune("--chdir", str(USER_APP), "--pythonpath", "src", "--worker-memory", "64MB", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert f"gunicorn --check-config passed with {APP}\n" in r.stderr
    assert f"{APP} imported from {USER_APP} with --pythonpath {USER_APP / 'src'}" in r.stderr


def test_check_config_from_the_current_folder(tmp_path):
    # Run where the user runs it: in the project folder, Gunicorn's own default --chdir.
    r = tune("--pythonpath", "src", "--worker-memory", "64MB", "--out", str(tmp_path), cwd=USER_APP)
    assert r.returncode == 0, r.stderr
    assert "gunicorn --check-config passed" in r.stderr


def test_not_importable_without_a_folder_is_said_not_failed(tmp_path):
    r = tune("--worker-memory", "64MB", "--out", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "--check-config skipped: notes is not importable from" in r.stderr and "--chdir" in r.stderr


def test_chdir_that_does_not_exist(tmp_path):
    r = tune("--chdir", str(tmp_path / "nope"), "--worker-memory", "64MB", "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    expected = f"error: --chdir {tmp_path / 'nope'}: no such directory (give the folder your app is started from)"
    assert r.stderr.strip().splitlines() == [expected]
    assert not (tmp_path / "out").exists()


def test_app_that_fails_to_import(tmp_path):
    r = run_hmb(["tune", "--tier", "small", "--app", "broken_app.app:application", "--chdir", str(USER_APP),
                 "--pythonpath", "src", "--worker-memory", "64MB", "--out", str(tmp_path / "out")])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "KeyError: 'NOTES_SETTINGS_MODULE' (src/broken_app/app.py:3)" in lines[0]
    assert not (tmp_path / "out").exists()


def _worker_source(stdout: str) -> str:
    return json.loads(stdout)["budgets"]["memory"]["worker_source"]


@pytest.mark.slow
def test_measure_memory_of_a_user_app_after_a_database_warmup(new_database):
    url = new_database("tuneuser")
    urls = USER_APP / "warmup-urls.txt"
    r = run_hmb(["--database-url", url, "tune", "--tier", "small", "--app", APP, "--chdir", str(USER_APP),
                 "--pythonpath", "src", "--measure-memory", "--warmup-urls", str(urls), "--json"], timeout=180)
    assert r.returncode == 0, r.stderr
    source = _worker_source(r.stdout)
    assert f"measured: RSS of 1 gthread worker of {APP} (from {USER_APP})" in source
    # 3 rounds of /notes (the database), / and a 404
    assert "9 GET of 3 path(s)" in source and "6×200" in source and "3×404" in source


@pytest.mark.slow
def test_measure_memory_of_a_user_app_with_a_scenario(new_database):
    url = new_database("tuneuser")
    r = run_hmb(["--database-url", url, "tune", "--tier", "small", "--app", APP, "--chdir", str(USER_APP),
                 "--pythonpath", "src", "--measure-memory", "--scenario", str(USER_APP / "scenario.yaml"),
                 "--json"], timeout=180)
    assert r.returncode == 0, r.stderr
    source = _worker_source(r.stdout)
    assert "requests of" in source and "scenario.yaml" in source and "6×200" in source


def test_measure_memory_of_a_user_app_needs_a_warmup():
    r = tune("--chdir", str(USER_APP), "--pythonpath", "src", "--measure-memory")
    assert r.returncode == 2
    assert "needs a warm-up: --scenario FILE or --warmup-urls FILE" in r.stderr


@pytest.mark.slow
def test_reference_app_warmup_touches_the_database(module_database):
    """The reference app is measured after its reference scenario (login, feeds, writes), not /health."""
    from hmb_ops.db.seed import seed

    seed(module_database, scale="small", seed=7, hash_rounds=4)
    r = run_hmb(["--database-url", module_database, "tune", "--tier", "small", "--measure-memory", "--json"],
                timeout=240)
    assert r.returncode == 0, r.stderr
    source = _worker_source(r.stdout)
    assert source.startswith("measured: RSS of 1 gthread worker of hmb_ops.refapp.wsgi:app after ")
    assert "requests of the reference scenario" in source and "×200" in source
    assert "/health" not in source


WSGI_APP = "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"
ASGI_APP = ("from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get('/health')\nasync def health():\n"
            "    return {'ok': True}\n")


@pytest.mark.parametrize("source, worker_class, expected", [
    (WSGI_APP, "uvicorn_worker.UvicornWorker",
     "is a WSGI app, and the worker class uvicorn_worker.UvicornWorker serves ASGI apps"),
    (ASGI_APP, "gthread", "is an ASGI app, and the worker class gthread serves WSGI apps"),
])
def test_an_app_the_worker_class_cannot_serve_is_refused(tmp_path, source, worker_class, expected):
    # gunicorn --check-config only imports the app, so it passed these; every request would fail.
    (tmp_path / "web.py").write_text(source)
    out = tmp_path / "out"
    r = run_hmb(["tune", "--tier", "small", "--app", "web:app", "--chdir", str(tmp_path), "--worker-class",
                 worker_class, "--worker-memory", "64MB", "--out", str(out)])
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], r.stderr
    assert not out.exists()


@pytest.mark.parametrize("source, worker_class", [(WSGI_APP, "sync"), (ASGI_APP, "uvicorn_worker.UvicornWorker")])
def test_an_app_its_worker_class_serves_passes(tmp_path, source, worker_class):
    (tmp_path / "web.py").write_text(source)
    r = run_hmb(["tune", "--tier", "small", "--app", "web:app", "--chdir", str(tmp_path), "--worker-class",
                 worker_class, "--worker-memory", "64MB", "--out", str(tmp_path / "out")])
    assert r.returncode == 0, r.stderr
    assert "gunicorn --check-config passed with web:app" in r.stderr


def test_an_app_without_a_variable_is_gunicorns_application(tmp_path):
    # `--app web` means web:application to Gunicorn; a module without it was exit 1 from --check-config.
    (tmp_path / "web.py").write_text(WSGI_APP)
    r = run_hmb(["tune", "--tier", "small", "--app", "web", "--chdir", str(tmp_path), "--worker-memory", "64MB",
                 "--out", str(tmp_path / "out")])
    assert r.returncode == 2, r.stderr
    assert "AttributeError: module 'web' has no attribute 'application'" in error_line(r)
    assert not (tmp_path / "out").exists()
    (tmp_path / "web.py").write_text(WSGI_APP.replace("def app(", "def application("))
    r = run_hmb(["tune", "--tier", "small", "--app", "web", "--chdir", str(tmp_path), "--worker-memory", "64MB",
                 "--out", str(tmp_path / "out")])
    assert r.returncode == 0, r.stderr
