"""ExitStatus is every exit code hmb-ops uses, and no module exits with a bare number instead."""

from __future__ import annotations

import ast
from pathlib import Path

from hmb_ops.errors import ExitStatus

PACKAGE = Path(__file__).resolve().parents[3] / "hmb_ops"


def test_the_documented_codes():
    assert {s.name: int(s) for s in ExitStatus} == {"OK": 0, "CHECK_FAILED": 1, "BAD_INPUT": 2, "ENVIRONMENT": 3,
                                                     "INTERNAL": 70, "INTERRUPTED": 130}


def _bare_exit_numbers(source: str, name: str) -> list[str]:
    """Calls that exit (sys.exit, click's Exit, ctx.exit, SystemExit) and `exit_code =` with an int literal."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and type(node.args[0].value) is int:
            func = node.func
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if callee in ("exit", "Exit", "SystemExit"):
                found.append(f"{name}:{node.lineno}: {callee}({node.args[0].value})")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant) \
                and type(node.value.value) is int:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "id", getattr(t, "attr", "")) == "exit_code" for t in targets):
                found.append(f"{name}:{node.lineno}: exit_code = {node.value.value}")
    return found


def test_no_module_exits_with_a_bare_number():
    found = [hit for path in sorted(PACKAGE.rglob("*.py"))
             for hit in _bare_exit_numbers(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))]
    assert found == [], "use hmb_ops.errors.ExitStatus:\n" + "\n".join(found)


def test_the_scan_sees_each_form():
    source = ("import sys, click\nsys.exit(2)\nraise click.exceptions.Exit(130)\nctx.exit(1)\n"
              "class E:\n    exit_code = 70\nsys.exit(ExitStatus.OK)\n")
    assert [h.split(": ", 1)[1] for h in _bare_exit_numbers(source, "x.py")] == [
        "exit(2)", "Exit(130)", "exit(1)", "exit_code = 70"]
