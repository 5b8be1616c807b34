"""The confinement and data options as a user runs them: bad input exits before anything starts,
an impossible tier is measured with a warning in the console and the JSON, or exit 3 when required."""

from __future__ import annotations

import json

import pytest

from hmb_ops.stack.confinement import available_method


@pytest.mark.parametrize("args, code, needle", [
    (["loadtest", "--memory", "20MB"], 2, "is below what one worker and the master take"),
    (["loadtest", "--cpus", "64", "--require-confinement"], 3, "asks for 64 CPUs"),
    (["loadtest", "--tier", "high", "--require-confinement"], 3, "asks for 4 CPUs"),
    (["loadtest", "--cpus", "lots"], 2, "expected a number of CPUs"),
    (["loadtest", "--memory", "-1GB"], 2, "cannot read size"),
    (["loadtest", "--no-confine", "--cpus", "1"], 2, "--no-confine cannot go with"),
    (["loadtest", "--require-confinement"], 2, "needs limits to require"),
    (["loadtest", "--target", "http://127.0.0.1:9", "--cpus", "1"], 2, "limit the app hmb-ops starts"),
    (["loadtest", "--tier", "nope"], 2, "unknown tier"),
    (["app", "serve", "--cpus", "64", "--require-confinement", "--port", "0"], 3, "asks for 64 CPUs"),
    (["app", "serve", "--memory", "8MB", "--port", "0"], 2, "is below what one worker"),
])
def test_bad_confinement_input_exits_before_anything_starts(hmb, tmp_path, pg_url, args, code, needle):
    out = tmp_path / "results"
    full = ["--database-url", pg_url, "--state-dir", str(tmp_path / "state"), *args]
    if args[0] == "loadtest":
        full += ["--out", str(out), "--duration", "2"]
    res = hmb(full, timeout=120)
    assert res.returncode == code, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()  # no load ran, nothing was written


@pytest.mark.slow
def test_a_tier_larger_than_the_host_is_measured_with_a_warning_in_console_and_json(hmb, tmp_path, module_database):
    res = hmb(["--database-url", module_database, "--state-dir", str(tmp_path / "state"), "loadtest",
               "--profile", "smoke", "--users", "2", "--duration", "3", "--cpus", "64", "--memory", "1GB",
               "--out", str(tmp_path / "r"), "--json"], timeout=300)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    conf = doc["confinement"]
    assert conf["exact"] is False and conf["requested_cpus"] == 64 and conf["cpus"] <= 64
    assert any("asks for 64 CPUs" in w for w in conf["warnings"])
    assert "warning: the plan asks for 64 CPUs" in res.stderr
    # a user's database: the run says it changes it
    assert doc["data"]["changes_user_database"] is True and "writes to your database" in doc["data"]["note"]
    if available_method()[0].startswith("cgroup"):
        assert conf["memory_bytes"] == 1024 ** 3 and conf["method"] == available_method()[0]
    report = hmb(["report", str(tmp_path / "r" / "results.json")])
    assert "NOT exact" in report.stdout + report.stderr and "asks for 64 CPUs" in report.stdout + report.stderr
