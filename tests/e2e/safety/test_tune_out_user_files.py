"""Issue #11 item 10 (and the tune side of item 3), as a user meets it: `hmb-ops tune --out DIR` on a
folder holding the user's own Procfile (web + worker) and render.yaml (two services and a
database). Real files, the real CLI in a subprocess."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import yaml
from cli_helpers import error_line

REPO = Path(__file__).resolve().parents[3]
SEED = REPO / "tests" / "fixtures" / "seed_app"
FAST = ["--worker-memory", "64MB", "--no-check-config"]
TOKEN_SECRET_ENV = "HMB_REFAPP_TOKEN_SECRET"

PROCFILE = (
    "# acme: one web process, one queue worker\n"
    "web: gunicorn app.main:app --workers 4 --bind 0.0.0.0:$PORT\n"
    "worker: python -m app.worker --queue default\n"
)
RENDER = """\
# acme's Render blueprint (hand-written)
services:
  - type: web
    name: acme-api
    runtime: python
    buildCommand: pip install -r requirements.txt
    startCommand: gunicorn app.main:app --workers 4 --bind 0.0.0.0:$PORT
    envVars:
      - key: WEB_CONCURRENCY
        value: 4
      - key: DATABASE_URL
        fromDatabase:
          name: acme-db
          property: connectionString
  - type: worker
    name: acme-worker
    runtime: python
    startCommand: python -m app.worker
databases:
  - name: acme-db
    plan: starter
"""


def user_folder(tmp_path: Path) -> Path:
    d = tmp_path / "acme"
    d.mkdir()
    (d / "Procfile").write_text(PROCFILE)
    (d / "render.yaml").write_text(RENDER)
    return d


def snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def test_plain_out_refuses_with_a_diff_and_writes_nothing(hmb, tmp_path):
    d = user_folder(tmp_path)
    before = snapshot(d)
    res = hmb(["tune", "--tier", "small", "--out", str(d)] + FAST)
    line = error_line(res, 2)
    assert "refusing to overwrite 2 file(s) hmb-ops did not write" in line and "nothing was written" in line
    assert str(d / "Procfile") in line and str(d / "render.yaml") in line
    assert "--merge" in line and "--force" in line
    # The diff shows what would have been lost.
    assert "-worker: python -m app.worker --queue default" in res.stderr
    assert "-  - type: worker" in res.stderr and "-databases:" in res.stderr
    # Byte-identical, and no half-written set: not even the files that were free to create.
    assert snapshot(d) == before


def test_refusal_in_json_carries_the_diffs(hmb, tmp_path):
    d = user_folder(tmp_path)
    before = snapshot(d)
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--json"] + FAST)
    error_line(res, 2)
    doc = json.loads(res.stdout)
    assert doc["written"] == [] and doc["deploy"]["refused"] == ["Procfile", "render.yaml"]
    files = {f["file"]: f for f in doc["deploy"]["files"]}
    assert files["Procfile"]["action"] == "refuse" and "-worker: python" in files["Procfile"]["diff"]
    assert files["gunicorn.conf.py"]["action"] == "create"
    assert snapshot(d) == before


def test_merge_keeps_the_worker_other_service_database_and_app(hmb, tmp_path):
    d = user_folder(tmp_path)
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--merge"] + FAST)
    assert res.returncode == 0, res.stderr
    assert "keeping your app app.main:app (from Procfile web)" in res.stderr
    procfile = (d / "Procfile").read_text()
    assert procfile == ("# acme: one web process, one queue worker\n"
                        "web: gunicorn --config gunicorn.conf.py app.main:app\n"
                        "worker: python -m app.worker --queue default\n")
    text = (d / "render.yaml").read_text()
    assert text.startswith("# acme's Render blueprint (hand-written)\n")
    render, before = yaml.safe_load(text), yaml.safe_load(RENDER)
    assert render["services"][1] == before["services"][1]
    assert render["databases"] == before["databases"]
    api = render["services"][0]
    assert api["startCommand"] == "gunicorn --config gunicorn.conf.py app.main:app"
    assert api["buildCommand"] == "pip install -r requirements.txt"
    env = {e["key"]: e for e in api["envVars"]}
    assert env["DATABASE_URL"] == before["services"][0]["envVars"][1]
    assert env["WEB_CONCURRENCY"]["value"] == "2"
    assert "hmb_ops.refapp" not in procfile + text
    assert 'wsgi_app = "app.main:app"' in (d / "gunicorn.conf.py").read_text()
    # The merged set agrees with itself.
    check = hmb(["tune", "check", str(d)])
    assert check.returncode == 0, check.stdout + check.stderr
    # Merging again changes nothing.
    after = snapshot(d)
    again = hmb(["tune", "--tier", "small", "--out", str(d), "--merge", "--json"] + FAST)
    assert again.returncode == 0, again.stderr
    assert {f["action"] for f in json.loads(again.stdout)["deploy"]["files"]} == {"unchanged"}
    assert snapshot(d) == after


def test_merge_with_app_replaces_the_app_module(hmb, tmp_path):
    d = user_folder(tmp_path)
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--merge", "--app", "app.wsgi:application"] + FAST)
    assert res.returncode == 0, res.stderr
    assert "web: gunicorn --config gunicorn.conf.py app.wsgi:application\n" in (d / "Procfile").read_text()
    assert "worker: python -m app.worker" in (d / "Procfile").read_text()


def test_force_replaces_after_a_backup(hmb, tmp_path):
    d = user_folder(tmp_path)
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--force"] + FAST)
    assert res.returncode == 0, res.stderr
    backups = sorted(p.name for p in d.iterdir() if ".bak-" in p.name)
    assert [b.split(".bak-")[0] for b in backups] == ["Procfile", "render.yaml"]
    assert (d / backups[0]).read_text() == PROCFILE and (d / backups[1]).read_text() == RENDER
    assert f"your file was copied to {d / backups[0]}" in res.stderr
    assert (d / "Procfile").read_text().startswith("# Generated by hmb-ops ")


def test_regenerating_a_folder_of_generated_files(hmb, tmp_path):
    d = tmp_path / "deploy"
    assert hmb(["tune", "--tier", "small", "--out", str(d)] + FAST).returncode == 0
    res = hmb(["tune", "--tier", "high", "--out", str(d)] + FAST)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in d.iterdir()) == ["Procfile", "gunicorn.conf.py", "hmb-ops.env", "render.yaml"]
    for p in d.iterdir():
        first = p.read_text().splitlines()[0]
        assert first.startswith("# Generated by hmb-ops ") and "hmb-ops tune --tier high --out ." in first
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in d.iterdir()}
    assert modes == {"Procfile": 0o644, "gunicorn.conf.py": 0o644, "render.yaml": 0o644, "hmb-ops.env": 0o600}


def test_generated_files_carry_a_token_secret_placeholder_never_a_secret(hmb, tmp_path):
    d = tmp_path / "deploy"
    assert hmb(["tune", "--tier", "small", "--out", str(d)] + FAST).returncode == 0
    env = (d / "hmb-ops.env").read_text()
    assert f"\n{TOKEN_SECRET_ENV}=replace-with-" in env and "secrets.token_urlsafe(32)" in env
    svc = yaml.safe_load((d / "render.yaml").read_text())["services"][0]
    assert {"key": TOKEN_SECRET_ENV, "generateValue": True} in svc["envVars"]


def test_merge_beside_the_seed_apps_own_gunicorn_conf(hmb, tmp_path):
    d = tmp_path / "seed"
    shutil.copytree(SEED, d)
    before = snapshot(d)
    # The seed's web line uses a worker class that is not installed here: named, nothing written.
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--merge"] + FAST)
    line = error_line(res, 2)
    assert "Procfile web uses worker class 'uvicorn.workers.UvicornWorker'" in line and "--worker-class" in line
    assert snapshot(d) == before
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--merge", "--worker-class", "gthread"] + FAST)
    assert res.returncode == 0, res.stderr
    # Their gunicorn.conf.py is Python, left alone; the plan's config goes beside it.
    assert (d / "gunicorn.conf.py").read_bytes() == before["gunicorn.conf.py"]
    # Their --preload stays (and is the plan's preload_app); the worker class they replaced is listed.
    assert (d / "Procfile").read_text() == "web: gunicorn --config hmb-ops.gunicorn.conf.py --preload backend.app.main:app\n"
    render = yaml.safe_load((d / "render.yaml").read_text())
    assert render["services"][0]["startCommand"] == "gunicorn --config hmb-ops.gunicorn.conf.py --preload backend.app.main:app"
    assert (d / "hmb-ops.gunicorn.conf.py").read_text().startswith("# Generated by hmb-ops ")
    assert "keeping your --preload (from Procfile web)" in res.stderr
    assert "runs your gunicorn.conf.py first" in res.stderr
    assert ("overridden by the plan: worker_class: yours uvicorn.workers.UvicornWorker → plan gthread "
            "(Procfile web: --worker-class uvicorn.workers.UvicornWorker)") in res.stderr
    assert "overridden by the plan: preload_app: yours False → plan True (gunicorn.conf.py)" in res.stderr
    # `tune check` reads the merged set through the config it starts: no drift in what runs (the
    # seed's docs still claim a different pool size, which is the user's to fix).
    doc = json.loads(hmb(["tune", "check", str(d), "--json"]).stdout)
    assert doc["surfaces"][0]["name"] == "hmb-ops.gunicorn.conf.py"
    assert {f["key"] for f in doc["findings"]} <= {"db_pool_max"}


def test_bad_combinations_are_usage_errors(hmb, tmp_path):
    d = user_folder(tmp_path)
    before = snapshot(d)
    for args, words in [(["--merge", "--force"], "--merge and --force are alternatives"),
                        (["--service", "acme-api"], "--service picks the render.yaml service for --merge"),
                        (["--merge", "--service", "nope"], "no service named 'nope'")]:
        res = hmb(["tune", "--tier", "small", "--out", str(d)] + args + FAST)
        assert words in error_line(res, 2), args
    assert "--merge needs --out DIR" in error_line(hmb(["tune", "--tier", "small", "--merge"] + FAST), 2)
    assert "--force needs --out DIR" in error_line(hmb(["tune", "--tier", "small", "--force"] + FAST), 2)
    assert snapshot(d) == before


def test_merge_refuses_a_web_command_it_cannot_rebuild(hmb, tmp_path):
    d = user_folder(tmp_path)
    (d / "Procfile").write_text("web: cd backend && gunicorn app.main:app\nworker: python w.py\n")
    before = snapshot(d)
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--merge", "--app", "app.main:app"] + FAST)
    line = error_line(res, 2)
    assert "does more than start gunicorn" in line and "--force" in line
    assert snapshot(d) == before
