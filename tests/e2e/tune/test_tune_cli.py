"""`hmb-ops tune` as a user runs it: generated files start the reference app under real Gunicorn,
WEB_CONCURRENCY changes the worker count, fake cgroup trees, the seed's drift, every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import error_line

REPO = Path(__file__).resolve().parents[3]
SEED = REPO / "tests" / "fixtures" / "seed_app"
FAST = ["--worker-memory", "64MB"]

def env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def _workers_of(proc, expected, timeout=20.0):
    # Gunicorn forks workers one by one after /health first answers: wait (bounded) for the count.
    deadline = time.monotonic() + timeout
    pids = proc.worker_pids()
    while len(pids) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        pids = proc.worker_pids()
    return pids


@pytest.mark.slow
def test_tier_default_out_starts_the_reference_app(hmb, tmp_path):
    from hmb_ops.stack.gunicorn import GunicornProcess

    deploy = tmp_path / "deploy"
    res = hmb(["tune", "--tier", "default", "--out", str(deploy)] + FAST)
    assert res.returncode == 0, res.stderr
    assert "gunicorn --check-config passed" in res.stderr
    assert sorted(p.name for p in deploy.iterdir()) == ["Procfile", "gunicorn.conf.py", "hmb-ops.env", "render.yaml"]
    env = env_file(deploy / "hmb-ops.env")
    assert env["WEB_CONCURRENCY"] == "4"
    db = "postgresql://hmb:unused@127.0.0.1:9/none"   # /health needs no database
    with GunicornProcess(db, config_file=str(deploy / "gunicorn.conf.py"), env=env) as proc:
        assert len(_workers_of(proc, 4)) == 4
    env["WEB_CONCURRENCY"] = "3"
    with GunicornProcess(db, config_file=str(deploy / "gunicorn.conf.py"), env=env) as proc:
        assert len(_workers_of(proc, 3)) == 3
    assert not proc.running()


def test_web_concurrency_changes_print_config(hmb, tmp_path):
    deploy = tmp_path / "d"
    assert hmb(["tune", "--tier", "high", "--out", str(deploy), "--no-check-config"] + FAST).returncode == 0

    def printed(extra):
        import os

        env = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "WEB_THREADS")}
        # The reference app refuses to import without a real token key (the files hold a placeholder).
        env["HMB_REFAPP_TOKEN_SECRET"] = "k" * 43
        env.update(extra)
        out = subprocess.run([sys.executable, "-m", "gunicorn", "--print-config", "-c", "gunicorn.conf.py",
                              "hmb_ops.refapp.wsgi:app"], cwd=deploy, env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        return {ln.split("=", 1)[0].strip(): ln.split("=", 1)[1].strip() for ln in out.stdout.splitlines() if "=" in ln}

    assert printed({})["workers"] == "8"
    got = printed({"WEB_CONCURRENCY": "3", "WEB_THREADS": "2"})
    assert (got["workers"], got["threads"]) == ("3", "2")


def test_same_inputs_byte_identical_files(hmb, tmp_path):
    for d in ("a", "b"):
        assert hmb(["tune", "--cpus", "2", "--memory", "2GB", "--out", str(tmp_path / d), "--no-check-config"]
                   + FAST).returncode == 0
    for name in ("Procfile", "gunicorn.conf.py", "hmb-ops.env", "render.yaml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_prints_files_without_out_and_json_plan(hmb):
    res = hmb(["tune", "--tier", "small"] + FAST)
    assert res.returncode == 0, res.stderr
    assert "==> gunicorn.conf.py <==" in res.stdout and "==> render.yaml <==" in res.stdout
    res = hmb(["tune", "--tier", "small", "--json"] + FAST)
    doc = json.loads(res.stdout)
    assert doc["schema_version"] == 1 and doc["tier"] == "small"
    assert doc["values"]["workers"] == 2 and doc["values"]["background_workers"] == 2
    assert {"name", "value", "formula", "binding", "reason"} <= set(doc["explain"][0])
    assert set(doc["files"]) == {"gunicorn.conf.py", "hmb-ops.env", "Procfile", "render.yaml"}


def test_explain_table(hmb):
    res = hmb(["tune", "--cpus", "0.5", "--memory", "512MB", "--explain"] + FAST)
    assert res.returncode == 0, res.stderr
    assert "binding constraint" in res.stdout
    assert "2 × CPUs = 2 × 0.5 → 1" in res.stdout
    assert "database connections: peak" in res.stderr


def test_live_db_reads_max_connections(hmb, pg_url):
    res = hmb(["tune", "--tier", "default", "--json"] + FAST, env={"DATABASE_URL": pg_url})
    doc = json.loads(res.stdout)
    assert doc["budgets"]["db_connections"]["source"].startswith("live: SHOW max_connections")


def test_detect_fake_cgroup_v2_tree(hmb, tmp_path):
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text("0::/app\n")
    (tmp_path / "proc/meminfo").write_text("MemTotal: 8000000 kB\n")
    (tmp_path / "sys/fs/cgroup/app").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/cgroup.controllers").write_text("cpu memory\n")
    (tmp_path / "sys/fs/cgroup/app/cpu.max").write_text("50000 100000\n")
    (tmp_path / "sys/fs/cgroup/app/memory.max").write_text("max\n")
    res = hmb(["tune", "detect", "--root", str(tmp_path), "--json"], env={"HMB_OPS_CPUS": "", "RENDER_CPU_COUNT": ""})
    doc = json.loads(res.stdout)
    assert doc["cpus"] == 0.5 and "cpu.max 50000 100000" in doc["cpus_source"]
    assert doc["memory_bytes"] == 8000000 * 1024 and doc["memory_source"] == "/proc/meminfo MemTotal"
    human = hmb(["tune", "detect"])
    assert human.returncode == 0 and "cpus:" in human.stdout


def test_tiers_list_with_user_file(hmb, tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("tiers:\n  tiny:\n    cpus: 0.5\n    memory: 512MB\n    workers: 1\n")
    doc = json.loads(hmb(["--config", str(f), "tune", "tiers", "--json"]).stdout)
    names = [t["name"] for t in doc["tiers"]]
    assert names == ["small", "default", "high", "tiny"]
    assert hmb(["tune", "tiers"]).returncode == 0


def test_check_catches_the_seed_drift(hmb):
    res = hmb(["tune", "check", str(SEED), "--json"])
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    drift = {f["key"] for f in doc["findings"] if f["kind"] == "drift"}
    assert drift >= {"app", "workers", "worker_class", "preload_app", "db_pool_max"}
    assert doc["ok"] is False
    human = hmb(["tune", "check", str(SEED)])
    assert human.returncode == 1
    assert "worker_class differs" in human.stdout and "tune check found" in human.stderr


def test_check_clean_on_generated(hmb, tmp_path):
    assert hmb(["tune", "--tier", "default", "--out", str(tmp_path), "--no-check-config"] + FAST).returncode == 0
    res = hmb(["tune", "check", str(tmp_path)])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no drift" in res.stdout


@pytest.mark.parametrize("args,needle", [
    (["tune", "--tier", "huge"], "unknown tier 'huge'"),
    (["tune", "--cpus", "0", "--memory", "1GB"], "--cpus: must be greater than zero"),
    (["tune", "--cpus", "-2", "--memory", "1GB"], "--cpus: must be greater than zero"),
    (["tune", "--cpus", "1", "--memory", "64MB"], "too small for even one worker: needs at least"),
    (["tune", "--cpus", "1", "--memory", "lots"], "cannot read size"),
    (["tune", "--tier", "default", "--cpus", "2"], "alternatives"),
    (["tune", "--tier", "default", "--worker-class", "eventlet"], "removed in Gunicorn 26"),
    (["tune", "--tier", "default", "--max-connections", "30", "--no-pgbouncer"], "over budget"),
    (["tune", "check", "/nonexistent/deploy"], "no such directory"),
])
def test_bad_inputs_exit_2(hmb, tmp_path, args, needle):
    out = tmp_path / "never"
    extra = FAST + ["--out", str(out)] if args[1] != "check" else []
    line = error_line(hmb(args + extra), 2, alone=True)
    assert needle in line
    assert not out.exists()  # nothing half-written


def test_over_budget_message_says_what_to_change(hmb):
    line = error_line(hmb(["tune", "--tier", "high", "--max-connections", "100", "--no-pgbouncer"] + FAST), 2,
                      alone=True)
    assert "= 96 > 0.8 × max_connections 100 = 80" in line
    assert "--pool-max" in line and "PgBouncer" in line


def test_malformed_and_wrong_typed_tiers_yaml(hmb, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers:\n  x: [\n")
    assert "bad.yaml:" in error_line(hmb(["--config", str(bad), "tune", "tiers"]), 2, alone=True)
    shipped = tmp_path / "configs"
    shipped.mkdir()
    (shipped / "tiers.yaml").write_text("tiers:\n  small:\n    cpus: 1\n    memory: 1GB\n    workers: two\n")
    line = error_line(hmb(["tune", "--tier", "small"] + FAST, env={"HMB_OPS_CONFIG_DIR": str(shipped)}), 2, alone=True)
    assert "tiers.yaml:5: field 'tiers.small.workers'" in line


def test_check_config_that_raises(hmb, tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text("import os\nworkers = int(os.environ['WEB_CONCURRENCY'])\n")
    line = error_line(hmb(["tune", "check", str(tmp_path)]), 2, alone=True)
    assert "gunicorn.conf.py:2" in line and "KeyError" in line


def test_check_not_a_directory(hmb, tmp_path):
    f = tmp_path / "Procfile"
    f.write_text("web: gunicorn app:app\n")
    assert "not a directory" in error_line(hmb(["tune", "check", str(f)]), 2, alone=True)


def test_user_tier_without_fixed_workers_is_computed(hmb, tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("tiers:\n  tiny:\n    cpus: 0.5\n    memory: 512MB\n    background_workers: 1\n")
    res = hmb(["--config", str(f), "tune", "--tier", "tiny", "--json", "--out", str(tmp_path / "o")] + FAST)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["values"]["workers"] == 1 and doc["values"]["background_workers"] == 1
    assert next(e for e in doc["explain"] if e["name"] == "workers")["binding"] == "CPU"
    assert doc["files"] is None and len(doc["written"]) == 4
    assert "gunicorn --check-config passed with hmb_ops.refapp.wsgi:app" in doc["validation"]
