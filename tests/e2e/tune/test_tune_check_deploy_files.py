"""`hmb-ops tune check` as a user runs it on the deploy-file fixture projects: exit codes, file:line
in what is printed, non-web processes named, a file that does not parse in one line (exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli_helpers import error_line

PROJECTS = Path(__file__).resolve().parents[2] / "fixtures" / "deploy_projects"


def test_seed_layout_printed_with_both_places(hmb):
    res = hmb(["tune", "check", str(PROJECTS / "seed_layout")])
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    app = next(ln for ln in lines if ln.startswith("drift: app differs"))
    assert "api.index:app (command line, Dockerfile:8)" in app and "app.main:app (command line, Procfile:1)" in app
    assert any(ln.startswith("no_effect: Dockerfile CMD (Dockerfile:8): threads=2 has no effect") for ln in lines)


def test_compose_json_names_the_processes_not_checked(hmb):
    res = hmb(["tune", "check", str(PROJECTS / "compose_services"), "--json"])
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert [s["name"] for s in doc["surfaces"]] == ["docker-compose.yml web", "docker-compose.yml api"]
    assert [s["server"] for s in doc["surfaces"]] == ["gunicorn", "uvicorn"]
    assert len(doc["not_checked"]) == 2
    assert "example-only" not in res.stdout   # the db service's POSTGRES_PASSWORD is never printed


def test_unknown_variable_is_printed(hmb):
    res = hmb(["tune", "check", str(PROJECTS / "shell_cmd")])
    assert ("unknown: Dockerfile CMD (Dockerfile:5): timeout uses $REQUEST_TIMEOUT, which no file here sets"
            in res.stdout)


def test_a_deploy_file_that_does_not_parse(hmb, tmp_path):
    shutil.copy(PROJECTS / "broken" / "docker-compose.yml", tmp_path / "docker-compose.yml")
    res = hmb(["tune", "check", str(tmp_path)])
    line = error_line(res, 2, alone=True)
    assert f"{tmp_path / 'docker-compose.yml'}:4: YAML syntax error" in line


def test_merge_then_check_is_clean(hmb, tmp_path):
    d = tmp_path / "seed_layout"
    shutil.copytree(PROJECTS / "seed_layout", d)
    res = hmb(["tune", "--tier", "small", "--worker-memory", "64MB", "--merge", "--out", str(d),
               "--app", "app.main:app", "--worker-class", "uvicorn_worker.UvicornWorker"])
    assert res.returncode == 0, res.stderr
    for name in ("Dockerfile", "railway.toml", "nixpacks.toml"):
        assert f"{d / name}: merged (only hmb-ops's keys changed)" in res.stderr
    assert (d / "Dockerfile").read_text().splitlines()[-1] == \
        'CMD ["sh", "-c", "gunicorn --config gunicorn.conf.py app.main:app"]'
    check = hmb(["tune", "check", str(d)])
    assert check.returncode == 0, check.stdout
    assert "no drift, no unknown settings, within budget" in check.stdout


def test_the_last_line_says_what_was_not_compared(hmb, tmp_path):
    # It used to say "no unknown settings" right under an unknown one, and "no drift" with nothing checked.
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\nCMD gunicorn app:app -w $WORKERS\n")
    res = hmb(["tune", "check", str(tmp_path)])
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-2:] == [
        "unknown: Dockerfile CMD (Dockerfile:2): workers uses $WORKERS, which no file here sets",
        "no drift, within budget; 1 setting(s) unknown (above), so not compared"]
    (tmp_path / "Dockerfile").write_text("")
    (tmp_path / "Procfile").write_text("")
    res = hmb(["tune", "check", str(tmp_path)])
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1].startswith("nothing checked: no web start command (Gunicorn or Uvicorn) in ")


def test_a_missing_env_file_is_its_line(hmb, tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    command: gunicorn app:app\n    env_file: web.env\n")
    res = hmb(["tune", "check", str(tmp_path)])
    line = error_line(res, 2, alone=True)
    assert f"{tmp_path / 'compose.yaml'}:4: service 'web': env_file web.env does not exist" in line
