"""The example GitHub Actions workflow only uses options the CLI really has."""

import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def _commands():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "capacity.yml").read_text())
    runs = [s["run"] for s in wf["jobs"]["loadtest"]["steps"] if "run" in s]
    text = "\n".join(runs).replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("hmb-ops ")]


def test_workflow_runs_the_ci_gate():
    (cmd,) = _commands()
    assert "--profile ci" in cmd and "--check 'p95<100ms'" in cmd and "--check 'error_rate<1%'" in cmd
    assert "--junit" in cmd and "--summary-md" in cmd


def test_workflow_options_exist_on_loadtest():
    from hmb_ops.cli.loadtest import loadtest

    known = {opt for p in loadtest.params for opt in getattr(p, "opts", [])}
    (cmd,) = _commands()
    used = {tok for tok in shlex.split(re.sub(r'"\$\{[^}]+\}"', "", cmd)) if tok.startswith("--")}
    assert used <= known, used - known


def test_workflow_expressions_parse():
    from hmb_ops.gates import thresholds as th

    (cmd,) = _commands()
    tokens = shlex.split(re.sub(r'"\$\{[^}]+\}"', "", cmd))
    checks = [tokens[i + 1] for i, t in enumerate(tokens) if t == "--check"]
    assert [th.parse(c).name for c in checks] == ["p95<100ms", "error_rate<1%"]
