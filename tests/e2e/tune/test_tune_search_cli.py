"""`hmb-ops tune --search` as a user runs it: on the reference app (pick written by --out, candidates
over the connection budget skipped with the reason), on a foreign app (the shop fixture, its own
Gunicorn config and scenario), and Ctrl-C (partial search.json, no Gunicorn left)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from fixtures_shop import SHOP_DIR, SHOP_ITEMS

from cli_helpers import error_line

REPO = Path(__file__).resolve().parents[3]
QUICK = ["--search-steps", "2,4", "--search-step-seconds", "2", "--slo", "p95<5000ms", "--no-measure-memory"]


def _env(url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    env["DATABASE_URL"] = url
    return env


@pytest.mark.slow
def test_search_on_the_reference_app_writes_the_pick_and_skips_what_does_not_fit(hmb, new_database, tmp_path):
    url = new_database()
    out = tmp_path / "deploy"
    proc = hmb(["--state-dir", str(tmp_path / "state"), "--json", "tune", "--search", "--search-grid", "2x2,6x4",
                "--search-rounds", "2", "--max-connections", "20", "--background-workers", "1", *QUICK,
                "--search-out", str(tmp_path / "search"), "--out", str(out), "--no-check-config"],
               env={"DATABASE_URL": url}, timeout=400)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    search = doc["search"]
    by = {c["label"]: c for c in search["candidates"]}
    assert search["formula"] == "1x4" and by["1x4"]["formula"]  # 20 connections allow one worker of 4 threads
    assert "database connections" in by["6x4"]["skipped"] and not by["6x4"]["measurements"]
    assert by["2x2"]["skipped"] is None and by["2x2"]["measurements"]
    assert search["pick"] in ("1x4", "2x2") and search["explanation"]
    # Round 2 re-measured the contenders: both measured twice, so the noise is known.
    assert len(by["1x4"]["measurements"]) == 2 and search["noise"] is not None
    saved = json.loads((tmp_path / "search" / "search.json").read_text())
    assert saved["kind"] == "tune-search" and saved["pick"] == search["pick"] and not saved["interrupted"]
    picked = by[search["pick"]]
    assert doc["values"]["workers"] == picked["workers"] and doc["values"]["threads"] == picked["threads"]
    conf = (out / "gunicorn.conf.py").read_text()
    assert f'"WEB_CONCURRENCY", {picked["workers"]})' in conf
    assert "tune --search" in proc.stderr or "search:" in proc.stderr


@pytest.mark.slow
def test_search_on_a_foreign_app_the_shop(hmb, new_database, tmp_path):
    sys.path.insert(0, str(SHOP_DIR))
    from seed import seed

    url = new_database("shop")
    seed(url, items=SHOP_ITEMS)
    proc = hmb(["--state-dir", str(tmp_path / "state"), "--json", "tune", "--app", "shop:create_app()",
                "--search", "--search-grid", "1x2,2x2", "--search-rounds", "1", *QUICK,
                "--search-config", str(SHOP_DIR / "gunicorn.conf.py"),
                "--scenario", str(REPO / "examples" / "shop" / "scenario.yaml"),
                "--search-out", str(tmp_path / "search")], env={"DATABASE_URL": url}, timeout=400)
    assert proc.returncode == 0, proc.stderr
    search = json.loads(proc.stdout)["search"]
    assert search["app"] == "shop:create_app()"
    measured = [c for c in search["candidates"] if c["measurements"]]
    assert {"1x2", "2x2"} <= {c["label"] for c in measured}
    assert all(m["peak_rps"] > 0 for c in measured for m in c["measurements"])
    run = json.loads(Path(measured[0]["measurements"][0]["results"]).read_text())
    assert {e["name"] for e in run["endpoints"]} >= {"POST /login", "GET /items"}


def test_search_on_a_foreign_app_without_traffic_is_refused(hmb, tmp_path):
    proc = hmb(["--state-dir", str(tmp_path), "tune", "--app", "shop:create_app()", "--search",
                "--no-measure-memory"], env={"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x"})
    line = error_line(proc, 2)
    assert "--scenario" in line


def test_search_options_need_search(hmb, tmp_path):
    line = error_line(hmb(["--state-dir", str(tmp_path), "tune", "--search-grid", "3x2"]), 2)
    assert "--search-grid" in line and "--search" in line


def test_a_bad_grid_is_refused_before_anything_runs(hmb, tmp_path):
    line = error_line(hmb(["--state-dir", str(tmp_path), "tune", "--search", "--search-grid", "3y2",
                           "--no-measure-memory"]), 2)
    assert "WORKERSxTHREADS" in line


@pytest.mark.slow
def test_ctrl_c_saves_partial_results_and_leaves_no_gunicorn(new_database, tmp_path):
    url = new_database()
    search_dir = tmp_path / "search"
    cmd = [sys.executable, "-m", "hmb_ops.cli.main", "--state-dir", str(tmp_path / "state"), "tune", "--search",
           "--search-grid", "2x2,3x1,4x1", "--search-rounds", "2", "--search-steps", "2,4",
           "--search-step-seconds", "3", "--slo", "p95<5000ms", "--no-measure-memory",
           "--search-out", str(search_dir)]
    proc = subprocess.Popen(cmd, env=_env(url), cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        # Wait for one finished measurement (search.json exists) and the next server up.
        while time.monotonic() < deadline and proc.poll() is None:
            kids = psutil.Process(proc.pid).children(recursive=True)
            gunicorns = [k.pid for k in kids if "gunicorn" in " ".join(_cmdline(k))]
            seen.update(gunicorns)
            if (search_dir / "search.json").exists() and gunicorns:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1]
        assert (search_dir / "search.json").exists(), "no measurement finished in time"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    doc = json.loads((search_dir / "search.json").read_text())
    assert doc["interrupted"] is True
    assert sum(len(c["measurements"]) for c in doc["candidates"]) >= 1
    time.sleep(0.5)
    left = [p for p in seen if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert seen and not left, f"gunicorn processes left running: {left}"


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []
