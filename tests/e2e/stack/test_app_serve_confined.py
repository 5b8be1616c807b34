"""`hmb-ops app serve --tier small` as a user runs it: Gunicorn starts inside the tier's limits
(cgroups here), the record is in --json, the group is gone after Ctrl-C."""

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

from hmb_ops.stack.confinement import available_method

REPO = Path(__file__).resolve().parents[3]
METHOD = available_method()[0]


@pytest.mark.skipif(not METHOD.startswith("cgroup"), reason=f"needs writable cgroups; here: {METHOD}")
def test_app_serve_with_a_tier_runs_inside_its_limits_and_cleans_up(new_database, tmp_path):
    url = new_database("serve")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HMB_OPS_STATE_DIR")}
    proc = subprocess.Popen([sys.executable, "-m", "hmb_ops.cli.main", "--database-url", url, "--state-dir",
                             str(tmp_path / "state"), "app", "serve", "--tier", "small", "--port", "0", "--json"],
                            env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        text, doc = "", None
        while doc is None:  # the --json document (indented), printed once the app answers
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            text += line
            try:
                doc = json.loads(text)
            except json.JSONDecodeError:
                continue
        conf = doc["confinement"]
        assert conf["method"] == METHOD and conf["cpus"] == 1 and conf["memory_bytes"] == 1024 ** 3
        assert conf["exact"] is True
        groups = conf["cgroup"].split(", ")
        procs = set()
        for g in groups:
            procs |= {int(p) for p in Path(g, "cgroup.procs").read_text().split()}
        assert doc["pid"] in procs and set(doc["workers"]) <= procs  # master and workers inside
        assert os.sched_getaffinity(doc["pid"]) == set(conf["app_cpus"])
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    time.sleep(0.2)
    assert not any(Path(g).exists() for g in groups)
    assert not psutil.pid_exists(doc["pid"]) or psutil.Process(doc["pid"]).status() == "zombie"
