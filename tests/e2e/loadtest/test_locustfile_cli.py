"""`hmb-ops loadtest --locustfile` with a file that cannot be used: one line, exit 2, before the run
(nothing is started, no results folder is left), never a traceback."""

from __future__ import annotations

import pytest
from locustfile_helpers import FIXTURES, json_app


@pytest.fixture(scope="module")
def target():
    with json_app() as url:
        yield url


@pytest.mark.parametrize("name, needle", [
    ("broken_import.py", "broken_import.py:1: does not import: ModuleNotFoundError: No module named"),
    ("no_user.py", "no_user.py: defines no user class"),
    ("with_host.py", "user class Elsewhere sets host = 'http://127.0.0.1:1', which is not the target"),
    ("not_there.py", "not_there.py: no such file"),
])
def test_a_bad_locustfile_is_one_line_and_exit_2_before_the_run(hmb, target, tmp_path, name, needle):
    out = tmp_path / "results"
    r = hmb(["loadtest", "--target", target, "--locustfile", str(FIXTURES / name), "--out", str(out)])
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not out.exists()


def test_a_syntax_error_names_its_line(hmb, target, tmp_path):
    bad = tmp_path / "syntax.py"
    bad.write_text("from locust import HttpUser\n\nclass U(HttpUser)\n    pass\n")
    r = hmb(["loadtest", "--target", target, "--locustfile", str(bad), "--out", str(tmp_path / "o")])
    assert r.returncode == 2
    assert f"error: {bad}:3: does not import: SyntaxError" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_class_host_without_target_is_refused(hmb, tmp_path):
    r = hmb(["loadtest", "--locustfile", str(FIXTURES / "with_host.py"), "--out", str(tmp_path / "o")])
    assert r.returncode == 2
    assert "sets host = 'http://127.0.0.1:1' but no --target was given" in r.stderr


def test_capacity_checks_the_locustfile_before_any_tier_starts(hmb, tmp_path):
    r = hmb(["capacity", "--tiers", "small", "--slo", "p95<100ms", "--locustfile", str(FIXTURES / "no_user.py"),
             "--out", str(tmp_path / "cap")])
    assert r.returncode == 2, r.stderr
    assert "no_user.py: defines no user class" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("rates, needle", [
    ("10,20", "--arrival-rate gives 2 rates but the profile has 1 stages"),
    ("10,fast", "is not a rate or a comma list of rates"),
    ("0", "at least one stage needs a rate above 0"),
])
def test_bad_arrival_rates_are_exit_2(hmb, target, tmp_path, rates, needle):
    r = hmb(["loadtest", "--target", target, "--profile", "smoke", "--arrival-rate", rates,
             "--out", str(tmp_path / "o")])
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
