"""`hmb-ops tune` for an ASGI app under Uvicorn workers and with PgBouncer, as a user runs it: the
explained plan, files with no threads that really start a (non-reference) ASGI app under Gunicorn,
pgbouncer.ini + userlist.txt under tune --out's ownership rules, and every bad input (exit 2, nothing
written)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cli_helpers import error_line

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / "tests" / "fixtures" / "asgi_tiny"
FAST = ["--worker-memory", "64MB"]
UVICORN = "uvicorn_worker.UvicornWorker"
ASGI = ["tune", "--cpus", "2", "--memory", "2GB", "--app", "tiny_asgi:app", "--worker-class", UVICORN] + FAST


def tiny_env() -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(TINY), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def test_asgi_plan_explained(hmb):
    res = hmb(ASGI + ["--threads", "2", "--explain"], env=tiny_env())
    assert res.returncode == 0, res.stderr
    assert "⌈CPUs⌉ = ⌈2⌉ → 2" in res.stdout and "not 2n+1" in res.stdout
    assert "SQLAlchemy pool_size + max_overflow = 5 + 10" in res.stdout
    assert "workers × pool max = 2 × 15" in res.stdout
    assert "threads=2 has no effect with uvicorn_worker.UvicornWorker" in res.stderr
    assert "database connections: peak" in res.stderr


def test_asgi_json_plan_and_files(hmb):
    res = hmb(ASGI + ["--asyncpg-max-size", "4", "--json"], env=tiny_env())
    doc = json.loads(res.stdout)
    assert doc["values"]["db_pool_max"] == 4 and doc["budgets"]["pool"]["library"] == "asyncpg"
    conf = doc["files"]["gunicorn.conf.py"]
    assert "threads" not in conf.split("import os", 1)[1] and f'worker_class = "{UVICORN}"' in conf
    assert "--asyncpg-max-size 4" in conf.splitlines()[0]


def test_deprecated_uvicorn_workers_path_is_flagged(hmb):
    res = hmb(["tune", "--cpus", "1", "--memory", "1GB", "--app", "other:app", "--worker-class",
               "uvicorn.workers.UvicornWorker"] + FAST)
    assert res.returncode == 0, res.stderr
    assert "deprecated" in res.stderr and "use uvicorn_worker.UvicornWorker" in res.stderr


@pytest.mark.slow
def test_asgi_out_starts_a_foreign_asgi_app_under_gunicorn(hmb, tmp_path):
    from hmb_ops.stack.gunicorn import GunicornProcess

    deploy = tmp_path / "deploy"
    res = hmb(ASGI + ["--out", str(deploy)], env=tiny_env())
    assert res.returncode == 0, res.stderr
    # Gunicorn itself loads the written config with the Uvicorn worker class and imports the app.
    import subprocess
    import sys

    check = subprocess.run([sys.executable, "-m", "gunicorn", "--check-config", "-c", str(deploy / "gunicorn.conf.py"),
                            "tiny_asgi:app"], cwd=TINY, capture_output=True, text=True, timeout=60,
                           env={**os.environ, **tiny_env()})
    assert check.returncode == 0, check.stdout + check.stderr
    conf = (deploy / "gunicorn.conf.py").read_text()
    assert "threads =" not in conf and "WEB_THREADS" not in (deploy / "hmb-ops.env").read_text()
    env = {**tiny_env(), "WEB_CONCURRENCY": "2"}
    with GunicornProcess("postgresql://x:unused@127.0.0.1:9/none", config_file=str(deploy / "gunicorn.conf.py"),
                         env=env, app="tiny_asgi:app") as proc:
        import time
        import urllib.request

        pids = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            with urllib.request.urlopen(proc.url + "/health", timeout=5) as resp:
                pids.add(json.loads(resp.read())["pid"])
        assert len(proc.worker_pids()) == 2
    assert not proc.running()


def test_pgbouncer_out_on_a_foreign_app(hmb, tmp_path):
    deploy = tmp_path / "deploy"
    args = ["tune", "--cpus", "2", "--memory", "2GB", "--app", "other:app", "--max-connections", "20",
            "--pgbouncer", "--out", str(deploy)] + FAST
    res = hmb(args)
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in deploy.iterdir())
    assert names == ["Procfile", "gunicorn.conf.py", "hmb-ops.env", "pgbouncer.ini", "render.yaml", "userlist.txt"]
    assert stat.S_IMODE((deploy / "userlist.txt").stat().st_mode) == 0o600
    ini = (deploy / "pgbouncer.ini").read_text()
    assert "max_db_connections = 16" in ini and "pool_mode = transaction" in ini and "PgBouncer 1.18" in ini
    # The user fills in the password: regenerating never touches userlist.txt again.
    users = deploy / "userlist.txt"
    users.write_text(users.read_text().replace('"USER" "PASSWORD"', '"app" "s3cret-pass"'))
    res = hmb(args)
    assert res.returncode == 0, res.stderr
    assert '"app" "s3cret-pass"' in users.read_text()
    assert "s3cret-pass" not in res.stderr + res.stdout


def test_users_own_pgbouncer_ini_is_refused_then_forced(hmb, tmp_path):
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "pgbouncer.ini").write_text("[pgbouncer]\nlisten_port = 7000\n")
    args = ["tune", "--tier", "small", "--pgbouncer", "--out", str(deploy), "--no-check-config"] + FAST
    line = error_line(hmb(args), 2)
    assert "pgbouncer.ini" in line and "nothing was written" in line
    assert sorted(p.name for p in deploy.iterdir()) == ["pgbouncer.ini"]
    res = hmb(args + ["--force"])
    assert res.returncode == 0, res.stderr
    assert any(p.name.startswith("pgbouncer.ini.bak-") for p in deploy.iterdir())
    assert "Generated by hmb-ops" in (deploy / "pgbouncer.ini").read_text().splitlines()[0]


def test_over_budget_plans_pgbouncer_unless_told_not_to(hmb, tmp_path):
    res = hmb(["tune", "--tier", "default", "--max-connections", "30", "--json"] + FAST)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["pgbouncer"]["values"]["max_db_connections"] == 24
    assert "pgbouncer.ini" in doc["files"]
    line = error_line(hmb(["tune", "--tier", "default", "--max-connections", "30", "--no-pgbouncer"] + FAST), 2,
                      alone=True)
    assert "over budget" in line and "--pgbouncer" in line


@pytest.mark.parametrize("args,needle", [
    (["--pgbouncer", "--pool-mode", "pooled"], "PgBouncer has no pool mode 'pooled'"),
    (["--no-pgbouncer", "--pool-mode", "session"], "--pool-mode configures PgBouncer"),
    (["--worker-class", "tornado"], "needs the tornado package, which is not installed"),
    (["--worker-class", "uvicorn"], "not a Gunicorn worker class"),
    (["--worker-class", "nosuchmod.Worker"], "module 'nosuchmod' is not installed"),
    (["--worker-class", UVICORN, "--pool-size", "0"], "--pool-size must be at least 1"),
    (["--worker-class", UVICORN, "--pool-size", "5", "--asyncpg-max-size", "5"], "alternatives"),
    (["--worker-class", UVICORN, "--async-pool", "asyncpg", "--max-overflow", "2"], "SQLAlchemy's"),
    (["--worker-class", UVICORN, "--async-pool", "psycopg"], "Invalid value for '--async-pool'"),
    (["--worker-class", UVICORN, "--pool-max", "3", "--pool-size", "3"], "alternatives"),
])
def test_bad_inputs_exit_2_nothing_written(hmb, tmp_path, args, needle):
    out = tmp_path / "never"
    res = hmb(["tune", "--cpus", "2", "--memory", "2GB", "--app", "other:app", "--out", str(out)] + FAST + args)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


@pytest.mark.parametrize("name", ["pgbouncer.ini", "userlist.txt"])
def test_a_link_at_pgbouncers_names_is_refused(hmb, tmp_path, name):
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    target = tmp_path / "elsewhere"
    target.write_text("x\n")
    (deploy / name).symlink_to(target)
    res = hmb(["tune", "--tier", "small", "--pgbouncer", "--out", str(deploy), "--no-check-config", "--force"]
              + FAST)
    assert "is a symbolic link" in error_line(res, 2)
    assert target.read_text() == "x\n" and [p.name for p in deploy.iterdir()] == [name]


def test_merge_does_not_merge_a_users_pgbouncer_ini(hmb, tmp_path):
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "pgbouncer.ini").write_text("[pgbouncer]\nlisten_port = 7000\n")
    res = hmb(["tune", "--tier", "small", "--pgbouncer", "--out", str(deploy), "--no-check-config", "--merge"]
              + FAST)
    assert res.returncode == 2
    assert (deploy / "pgbouncer.ini").read_text() == "[pgbouncer]\nlisten_port = 7000\n"
    assert sorted(p.name for p in deploy.iterdir()) == ["pgbouncer.ini"]


def test_tune_check_is_clean_on_its_asgi_pgbouncer_files_and_flags_the_asyncpg_cache(hmb, tmp_path):
    deploy = tmp_path / "deploy"
    res = hmb(["tune", "--cpus", "2", "--memory", "2GB", "--app", "myapi.main:app", "--worker-class", UVICORN,
               "--pgbouncer", "--out", str(deploy), "--no-check-config"] + FAST)
    assert res.returncode == 0, res.stderr
    res = hmb(["tune", "check", str(deploy)])
    assert res.returncode == 0, res.stdout + res.stderr
    # The app's environment then says it talks asyncpg through PgBouncer with the statement cache on.
    with (deploy / "hmb-ops.env").open("a") as f:
        f.write("DATABASE_URL=postgresql+asyncpg://app:pw@127.0.0.1:6432/app\n")
    res = hmb(["tune", "check", str(deploy)])
    assert res.returncode == 1
    assert "asyncpg's statement cache is on" in res.stdout and "statement_cache_size=0" in res.stdout
    assert "pw@" not in res.stdout + res.stderr
