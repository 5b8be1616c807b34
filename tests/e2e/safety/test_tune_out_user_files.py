"""Issue #11 item 10 (and the tune side of item 3), as a user meets it: `hmb-ops tune --out DIR` on a
folder holding the user's own Procfile (web + worker) and render.yaml (two services and a
database). Real files, the real CLI in a subprocess."""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path

import pytest
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
    # A web line whose worker class is not installed here is named and nothing is written (uvicorn is
    # installed now, with the asgi extra: a copy uses the tornado worker, whose package is not).
    missing = tmp_path / "missing"
    shutil.copytree(SEED, missing)
    for name in ("Procfile", "render.yaml"):
        text = (missing / name).read_text().replace("uvicorn.workers.UvicornWorker", "tornado")
        (missing / name).write_text(text)
    missing_before = snapshot(missing)
    res = hmb(["tune", "--tier", "small", "--out", str(missing), "--merge"] + FAST)
    line = error_line(res, 2)
    assert "Procfile web uses worker class 'tornado'" in line and "--worker-class" in line
    assert snapshot(missing) == missing_before
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--merge", "--worker-class", "gthread"] + FAST)
    assert res.returncode == 0, res.stderr
    # Their gunicorn.conf.py is Python, left alone; the plan's config goes beside it.
    assert (d / "gunicorn.conf.py").read_bytes() == before["gunicorn.conf.py"]
    # Their --preload stays (and is the plan's preload_app); the worker class they replaced is listed.
    start = "gunicorn --config hmb-ops.gunicorn.conf.py --preload backend.app.main:app"
    assert (d / "Procfile").read_text() == f"web: {start}\n"
    render = yaml.safe_load((d / "render.yaml").read_text())
    assert render["services"][0]["startCommand"] == start
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


# ---------------------------------------------------------------------------------------------
# Reviewer follow-ups: secrets are never printed; --merge never silently drops the user's Gunicorn
# settings (their -c config file, ./gunicorn.conf.py and its hooks, --preload).

SECRETS = ("TOPSECRETpw", "TOPSECRETtoken", "TOPSECRETstripe", "TOPSECRETsentry", "TOPSECRETredis")
USER_ENV = (
    "# acme's own environment\n"
    "DATABASE_URL=postgresql://me:TOPSECRETpw@db/prod\n"
    "WEB_CONCURRENCY=4\n"
    f"{TOKEN_SECRET_ENV}=TOPSECRETtoken-0123456789abcdef\n"
    "REDIS_URL=redis://:TOPSECRETredis@cache:6379/0\n"
)
SECRET_RENDER = RENDER.replace("""      - key: WEB_CONCURRENCY
        value: 4
""", """      - key: WEB_CONCURRENCY
        value: 4
      - key: STRIPE_API_KEY
        value: sk_live_TOPSECRETstripe
""")
SECRET_PROCFILE = PROCFILE.replace("web: gunicorn", "web: SENTRY_AUTH_TOKEN=TOPSECRETsentry gunicorn")


def secret_folder(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    d = user_folder(tmp_path)
    (d / "hmb-ops.env").write_text(USER_ENV)
    (d / "render.yaml").write_text(SECRET_RENDER)
    (d / "Procfile").write_text(SECRET_PROCFILE)
    return d


def assert_no_secret(res):
    for secret in SECRETS:
        assert secret not in res.stdout and secret not in res.stderr, secret


def test_refusal_diffs_never_print_the_users_secrets(hmb, tmp_path):
    d = secret_folder(tmp_path)
    before = snapshot(d)
    for extra in ([], ["--json"]):
        res = hmb(["tune", "--tier", "small", "--out", str(d)] + FAST + extra)
        error_line(res, 2)
        assert_no_secret(res)
        shown = res.stdout if extra else res.stderr
        # The diff still shows what would be lost, with the values masked.
        assert "-DATABASE_URL=postgresql://me:***@db/prod" in shown
        assert f"{TOKEN_SECRET_ENV}=***" in shown and "-REDIS_URL=redis://:***@cache:6379/0" in shown
        assert "-        value: ***" in shown
        assert "SENTRY_AUTH_TOKEN=***" in shown
    assert snapshot(d) == before


def test_merge_masks_the_display_and_keeps_the_secrets_in_the_files(hmb, tmp_path):
    d = secret_folder(tmp_path)
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--merge"] + FAST)
    assert res.returncode == 0, res.stderr
    assert_no_secret(res)
    # Context lines of the env diff are masked too.
    assert " DATABASE_URL=postgresql://me:***@db/prod" in res.stderr
    env = (d / "hmb-ops.env").read_text()
    assert "DATABASE_URL=postgresql://me:TOPSECRETpw@db/prod\n" in env
    assert f"{TOKEN_SECRET_ENV}=TOPSECRETtoken-0123456789abcdef\n" in env and "WEB_CONCURRENCY=2\n" in env
    assert stat.S_IMODE((d / "hmb-ops.env").stat().st_mode) == 0o600
    assert "value: sk_live_TOPSECRETstripe" in (d / "render.yaml").read_text()
    assert (d / "Procfile").read_text().startswith(
        "# acme: one web process, one queue worker\nweb: SENTRY_AUTH_TOKEN=TOPSECRETsentry gunicorn --config")
    # The same again in JSON (a fresh copy, so the diffs are not empty).
    d2 = secret_folder(tmp_path / "again")
    res = hmb(["tune", "--tier", "small", "--out", str(d2), "--merge", "--json"] + FAST)
    assert res.returncode == 0, res.stderr
    assert_no_secret(res)
    files = {f["file"]: f for f in json.loads(res.stdout)["deploy"]["files"]}
    assert files["hmb-ops.env"]["action"] == "merge" and "-WEB_CONCURRENCY=4" in files["hmb-ops.env"]["diff"]


def test_force_never_prints_the_users_secrets(hmb, tmp_path):
    for extra in ([], ["--json"]):
        d = secret_folder(tmp_path / ("json" if extra else "plain"))
        res = hmb(["tune", "--tier", "small", "--out", str(d), "--force"] + FAST + extra)
        assert res.returncode == 0, res.stderr
        assert_no_secret(res)
        shown = res.stdout if extra else res.stderr
        assert "-DATABASE_URL=postgresql://me:***@db/prod" in shown
        # The backups still hold the user's files as they were.
        backup = next(p for p in d.iterdir() if p.name.startswith("hmb-ops.env.bak-"))
        assert backup.read_text() == USER_ENV


def gunicorn(args: list[str], cwd: Path):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "gunicorn", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def gunicorn_app_folder(tmp_path: Path) -> Path:
    """An app with a WSGI module and a hooks module its Gunicorn config imports."""
    d = tmp_path / "acme"
    (d / "api").mkdir(parents=True)
    (d / "myapp").mkdir()
    (d / "api" / "__init__.py").write_text("")
    (d / "api" / "wsgi.py").write_text(
        "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n")
    (d / "myapp" / "__init__.py").write_text("")
    (d / "myapp" / "hooks.py").write_text(
        "def announce_fork(server, worker):\n    server.log.info('acme hook ran in %s', worker.pid)\n")
    return d


def printed_config(d: Path, conf: str) -> dict[str, str]:
    res = gunicorn(["--print-config", "--config", conf, "api.wsgi:app"], d)
    assert res.returncode == 0, res.stderr
    return {k.strip(): v.strip() for k, _, v in (ln.partition("=") for ln in res.stdout.splitlines()) if v}


def test_merge_keeps_the_config_file_and_preload_the_web_line_named(hmb, tmp_path):
    # Finding 2a: `-c config/gunicorn.py --preload` used to vanish from the merged line.
    d = gunicorn_app_folder(tmp_path)
    (d / "config").mkdir()
    (d / "config" / "gunicorn.py").write_text(
        "import myapp.hooks\n\nworkers = 3\naccesslog = '-'\npost_fork = myapp.hooks.announce_fork\n")
    (d / "Procfile").write_text("web: gunicorn api.wsgi:app -c config/gunicorn.py --preload --access-logfile -\n")
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--merge", "--worker-memory", "64MB"])
    assert res.returncode == 0, res.stderr
    assert (d / "Procfile").read_text() == \
        "web: gunicorn --config gunicorn.conf.py --preload --access-logfile - api.wsgi:app\n"
    assert (d / "config" / "gunicorn.py").read_text().startswith("import myapp.hooks\n")
    assert "keeping your --preload (from Procfile web)" in res.stderr
    assert "gunicorn.conf.py: runs your config/gunicorn.py first, then sets the plan's values" in res.stderr
    assert "overridden by the plan: workers: yours 3 → plan 2 (config/gunicorn.py)" in res.stderr
    assert "kept on Procfile web: --preload --access-logfile -" in res.stderr
    # The real Gunicorn, started the way the merged Procfile starts it: the user's hook and access
    # log from config/gunicorn.py, the plan's workers, preload from the kept flag.
    assert gunicorn(["--check-config", "--config", "gunicorn.conf.py", "--preload", "api.wsgi:app"], d).returncode == 0
    printed = printed_config(d, "gunicorn.conf.py")
    assert printed["post_fork"] == "<announce_fork()>" and printed["accesslog"] == "-"
    assert printed["workers"] == "2" and printed["preload_app"] == "True"
    # Merging again keeps the chain (read back from the generated config) and changes nothing.
    after = snapshot(d)
    again = hmb(["tune", "--tier", "small", "--out", str(d), "--merge", "--worker-memory", "64MB", "--json"])
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)["deploy"]
    assert {f["action"] for f in doc["files"]} == {"unchanged"} and doc["chained_config"] == "config/gunicorn.py"
    assert doc["overrides"] == [{"setting": "workers", "source": "config/gunicorn.py", "yours": "3", "plan": "2"}]
    assert snapshot(d) == after


def test_merge_runs_the_users_own_gunicorn_conf_first(hmb, tmp_path):
    # Finding 2b: with the user's ./gunicorn.conf.py the plan's config went beside it and Gunicorn
    # stopped loading theirs (their hooks silently stopped running).
    d = gunicorn_app_folder(tmp_path)
    (d / "gunicorn.conf.py").write_text(
        "import myapp.hooks\n\nworkers = 3\npost_fork = myapp.hooks.announce_fork\n")
    (d / "Procfile").write_text("web: gunicorn api.wsgi:app --workers 3\n")
    # PYTHONPATH: the app imports, so tune's own validation runs `gunicorn --check-config` on the
    # merged config (it runs the user's gunicorn.conf.py, which imports myapp.hooks).
    res = hmb(["tune", "--tier", "small", "--out", str(d), "--merge", "--worker-memory", "64MB", "--json"],
              env={"PYTHONPATH": str(d)})
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["deploy"]["chained_config"] == "gunicorn.conf.py"
    assert {(o["setting"], o["source"], o["yours"], o["plan"]) for o in doc["deploy"]["overrides"]} == {
        ("workers", "gunicorn.conf.py", "3", "2"), ("workers", "Procfile web: --workers 3", "3", "2")}
    assert (d / "Procfile").read_text() == "web: gunicorn --config hmb-ops.gunicorn.conf.py api.wsgi:app\n"
    assert "gunicorn --check-config passed with api.wsgi:app" in doc["validation"]
    assert gunicorn(["--check-config", "--config", "hmb-ops.gunicorn.conf.py", "api.wsgi:app"], d).returncode == 0
    printed = printed_config(d, "hmb-ops.gunicorn.conf.py")
    assert printed["post_fork"] == "<announce_fork()>" and printed["workers"] == "2"
    # Without the chain Gunicorn would have the default hook: the user's file alone still has theirs.
    assert printed_config(d, "gunicorn.conf.py")["workers"] == "3"
    # tune check reads the merged set through the config the Procfile starts.
    check = hmb(["tune", "check", str(d), "--json"])
    surfaces = {s["name"]: s["settings"] for s in json.loads(check.stdout)["surfaces"]}
    assert surfaces["Procfile web"]["workers"] == 2


def test_merge_with_a_config_it_cannot_run_first_writes_nothing(hmb, tmp_path):
    d = gunicorn_app_folder(tmp_path)
    cases = [
        ("web: gunicorn api.wsgi:app -c config/missing.py\n", None, ("names the Gunicorn config config/missing.py, "
         "which is not in")),
        ("web: gunicorn api.wsgi:app -c python:acme.gunicorn_settings\n", None, "which tune cannot run first"),
        ("web: gunicorn api.wsgi:app -c broken.py\n", None, "evaluating it raised NameError"),
        ("web: gunicorn api.wsgi:app -c a.py\n", "gunicorn.conf.py", "start Gunicorn with different config files"),
    ]
    (d / "a.py").write_text("workers = 2\n")
    (d / "broken.py").write_text("workers = undefined_name\n")
    for procfile, render_conf, words in cases:
        (d / "Procfile").write_text(procfile)
        if render_conf:
            (d / "render.yaml").write_text(RENDER.replace("startCommand: gunicorn app.main:app",
                                                          f"startCommand: gunicorn api.wsgi:app -c {render_conf}")
                                           .replace("  - type: worker\n    name: acme-worker\n    runtime: python\n"
                                                    "    startCommand: python -m app.worker\n", ""))
            (d / "gunicorn.conf.py").write_text("workers = 5\n")
        before = snapshot(d)
        res = hmb(["tune", "--tier", "small", "--out", str(d), "--merge"] + FAST)
        assert words in error_line(res, 2), procfile
        assert snapshot(d) == before


# ---------------------------------------------------------------------------------------------
# Symbolic links at the names tune writes: refused before anything is read or written (reviewer
# findings: a dangling Procfile link failed halfway with "appeared while tune was running", and
# --merge replaced an hmb-ops.env link with a regular file).


def listing(d: Path) -> dict[str, tuple]:
    """Every entry of `d` as it is on disk: links by their target, files by bytes and mode."""
    out = {}
    for p in sorted(d.iterdir()):
        st = p.lstat()
        out[p.name] = (("link", str(p.readlink())) if stat.S_ISLNK(st.st_mode)
                       else ("file", p.read_bytes(), stat.S_IMODE(st.st_mode)) if stat.S_ISREG(st.st_mode)
                       else ("other",))
    return out


def linked_folder(hmb, tmp_path: Path) -> tuple[Path, Path]:
    """The user's folder `acme` and `other`, a folder of real files hmb-ops generated earlier."""
    other = tmp_path / "other"
    other.mkdir()
    res = hmb(["tune", "--tier", "small", "--out", str(other)] + FAST)
    assert res.returncode == 0, res.stderr
    d = tmp_path / "acme"
    d.mkdir()
    return d, other


def refused_link(hmb, d: Path, other: Path, args: list[str], link: str, target: str):
    before, other_before = listing(d), listing(other)
    res = hmb(["tune", "--tier", "small", "--out", str(d)] + args + FAST)
    line = error_line(res, 2)
    assert f"{d / link} is a symbolic link (to {target}); hmb-ops neither writes through nor replaces links" in line
    assert "replace it with the file itself or choose another --out" in line
    assert "appeared" not in line
    assert listing(d) == before, "nothing written, no link replaced"
    assert listing(other) == other_before, "the link target untouched"


def test_dangling_symlink_and_link_to_a_generated_file_write_nothing(hmb, tmp_path):
    # The reported folder: a link to a headered gunicorn.conf.py and a dangling Procfile link.
    d, other = linked_folder(hmb, tmp_path)
    (d / "gunicorn.conf.py").symlink_to(other / "gunicorn.conf.py")
    (d / "Procfile").symlink_to("missing/Procfile")
    refused_link(hmb, d, other, [], "gunicorn.conf.py", str(other / "gunicorn.conf.py"))
    (d / "gunicorn.conf.py").unlink()
    refused_link(hmb, d, other, [], "Procfile", "missing/Procfile")
    assert not (d / "missing").exists()


def test_symlink_to_a_generated_file_is_not_regenerated_through(hmb, tmp_path):
    d, other = linked_folder(hmb, tmp_path)
    (d / "render.yaml").symlink_to("../other/render.yaml")
    refused_link(hmb, d, other, [], "render.yaml", "../other/render.yaml")


def test_merge_refuses_an_env_file_link(hmb, tmp_path):
    d, other = linked_folder(hmb, tmp_path)
    (other / "real.env").write_text("DATABASE_URL=postgresql://app@db/app\nWEB_CONCURRENCY=9\n")
    (other / "real.env").chmod(0o640)
    (d / "hmb-ops.env").symlink_to(other / "real.env")
    (d / "Procfile").write_text(PROCFILE)
    refused_link(hmb, d, other, ["--merge"], "hmb-ops.env", str(other / "real.env"))
    assert stat.S_IMODE((other / "real.env").stat().st_mode) == 0o640


def test_merge_refuses_a_link_at_its_own_config_name(hmb, tmp_path):
    # With the user's own gunicorn.conf.py, --merge writes hmb-ops.gunicorn.conf.py: a link there is refused.
    d, other = linked_folder(hmb, tmp_path)
    (d / "gunicorn.conf.py").write_text("workers = 3\n")
    (d / "hmb-ops.gunicorn.conf.py").symlink_to(other / "gunicorn.conf.py")
    refused_link(hmb, d, other, ["--merge"], "hmb-ops.gunicorn.conf.py", str(other / "gunicorn.conf.py"))


def test_force_refuses_a_link_without_a_backup(hmb, tmp_path):
    d, other = linked_folder(hmb, tmp_path)
    (other / "Procfile.mine").write_text(PROCFILE)
    (d / "Procfile").symlink_to(other / "Procfile.mine")
    (d / "render.yaml").write_text(RENDER)
    refused_link(hmb, d, other, ["--force"], "Procfile", str(other / "Procfile.mine"))
    refused_link(hmb, d, other, ["--merge"], "Procfile", str(other / "Procfile.mine"))


def test_a_link_made_after_the_decision_is_refused_before_any_write(tmp_path):
    from hmb_ops.errors import UsageError
    from hmb_ops.tune import deploy
    from hmb_ops.tune.api import plan_for

    prepared = deploy.prepare(plan_for(tier="small", worker_memory="64MB"), tmp_path)
    (tmp_path / "render.yaml").symlink_to("elsewhere.yaml")
    with pytest.raises(UsageError, match=re.escape("render.yaml is a symbolic link (to elsewhere.yaml)")):
        deploy.apply(prepared)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render.yaml"]
    assert not (tmp_path / "elsewhere.yaml").exists()
