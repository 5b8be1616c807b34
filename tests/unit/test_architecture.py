"""The import rules of docs/architecture.md, enforced: every import in hmb_ops (module level or
inside a function, absolute or relative) must be allowed by the table there."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "hmb_ops"
DOC = ROOT / "docs" / "architecture.md"
EVERYTHING = "*"


@dataclass(frozen=True)
class Import:
    path: str     # file, relative to the repository
    line: int
    importer: str  # dotted module name of the importing file
    target: str    # dotted module name imported


def read_rules(text: str) -> dict[str, tuple[str, ...]]:
    """{unit: allowed units} from the table between the import-rules markers."""
    block = re.search(r"<!-- import-rules:start -->(.*?)<!-- import-rules:end -->", text, re.S)
    assert block, f"{DOC}: no table between <!-- import-rules:start --> and <!-- import-rules:end -->"
    rules = {}
    for row in block.group(1).strip().splitlines()[2:]:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        assert len(cells) == 3, f"{DOC}: a rule row has three cells: {row}"
        unit = cells[0].strip("`")
        allowed = tuple(re.findall(r"`([^`]+)`", cells[2]))
        assert unit not in rules, f"{DOC}: two rows for {unit}"
        rules[unit] = allowed
    return rules


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path, source: str | None = None) -> list[Import]:
    """Every hmb_ops import in the file, wherever it sits; `from pkg import sub` names the submodule."""
    source = path.read_text(encoding="utf-8") if source is None else source
    importer = _module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                targets.append(sub if _is_module(sub) else module)
        rel = str(path.relative_to(ROOT))
        found += [Import(rel, node.lineno, importer, t) for t in targets
                  if t == "hmb_ops" or t.startswith("hmb_ops.")]
    return found


def _unit(dotted: str, rules: dict) -> str | None:
    """The most specific rule row that contains this module (None: no row does)."""
    name = dotted.removeprefix("hmb_ops").removeprefix(".") or "hmb_ops"
    candidates = [u for u in rules if name == u or name.startswith(u + ".")]
    return max(candidates, key=len) if candidates else None


def _allows(entry: str, target: str) -> bool:
    if entry == EVERYTHING:
        return True
    if entry == "hmb_ops":
        return target == "hmb_ops"
    full = f"hmb_ops.{entry}"
    return target == full or target.startswith(full + ".")


def _package(dotted: str) -> list[str]:
    return dotted.split(".")[:2]  # ["hmb_ops", package or top-level module]


def violations(found: list[Import], rules: dict) -> list[str]:
    out = []
    for imp in found:
        unit = _unit(imp.importer, rules)
        if unit is None:
            out.append(f"{imp.path}:{imp.line}: {imp.importer} has no row in {DOC.name}")
            continue
        if _package(imp.target) == _package(imp.importer) and imp.target != "hmb_ops":
            continue  # inside one package anything goes
        allowed = rules[unit]
        if not any(_allows(entry, imp.target) for entry in allowed):
            out.append(f"{imp.path}:{imp.line}: {imp.importer} imports {imp.target}, but the rule for "
                       f"`{unit}` allows only {', '.join(allowed) or 'nothing of hmb_ops'}")
    return out


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "vendor" not in p.relative_to(PACKAGE).parts)


@pytest.fixture(scope="module")
def rules() -> dict[str, tuple[str, ...]]:
    return read_rules(DOC.read_text(encoding="utf-8"))


def test_every_import_in_hmb_ops_is_allowed_by_the_architecture_table(rules):
    found = [imp for path in _sources() for imp in imports_of(path)]
    assert len(found) > 200  # the walk really saw the package
    problems = violations(found, rules)
    assert not problems, "imports docs/architecture.md does not allow:\n" + "\n".join(problems)


def test_every_package_and_module_has_a_row(rules):
    units = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    units |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert units - set(rules) == set(), "add a row to docs/architecture.md for each"


def test_every_rule_names_real_modules(rules):
    named = set(rules) | {e for allowed in rules.values() for e in allowed}
    missing = [n for n in named - {EVERYTHING} if not _is_module(n if n == "hmb_ops" else f"hmb_ops.{n}")]
    assert not missing


def test_nothing_but_cli_may_import_cli(rules):
    assert [u for u, allowed in rules.items() if u != "cli" and ({"cli", EVERYTHING} & set(allowed))] == []


@pytest.mark.parametrize("path,source,expected", [
    # a function-level import of the CLI from the Flask app
    ("hmb_ops/refapp/app.py", "def f():\n    from hmb_ops.cli.main import main\n",
     "hmb_ops/refapp/app.py:2: hmb_ops.refapp.app imports hmb_ops.cli.main, but the rule for `refapp`"),
    # a relative import leaving the package, and a submodule named by `from package import module`
    ("hmb_ops/report/console.py", "from ..gates import flow\n",
     "hmb_ops/report/console.py:1: hmb_ops.report.console imports hmb_ops.gates.flow"),
    # the narrower row wins over its package's
    ("hmb_ops/stack/gunicorn.py", "import hmb_ops.tune.api\n",
     "but the rule for `stack.gunicorn` allows only errors, ports, private_files"),
])
def test_a_forbidden_import_is_named_with_file_line_and_rule(rules, path, source, expected):
    problems = violations(imports_of(ROOT / path, source), rules)
    assert len(problems) == 1 and expected in problems[0], problems


def test_allowed_imports_pass(rules):
    source = "from . import thresholds\nfrom hmb_ops.errors import UsageError\nimport hmb_ops.documents\n"
    assert violations(imports_of(ROOT / "hmb_ops/gates/verdict.py", source), rules) == []
