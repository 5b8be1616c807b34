"""hmb-ops as a user installs it: build the wheel, install it into a clean venv outside the
repository (dependencies from the package index, nothing from this checkout or the project venv),
and run the README's commands from an empty folder.

This is the test for issue #12's packaging item: before the shipped YAML moved into the package,
the wheel held no configs and `tune tiers` failed with "no tiers are defined", `loadtest --profile`
with "unknown profile", `indexes plan` with ".../site-packages/configs/indexes.yaml: file not found".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# Every shipped YAML, sub-folders included (configs/scenarios/ holds the reference scenario).
SHIPPED = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "hmb_ops" / "configs").rglob("*.yaml"))
NETWORK_TROUBLE = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
                   "No matching distribution found for setuptools")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def _run(cmd, *, cwd, env, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=env, capture_output=True, text=True,
                          timeout=timeout)


def _ok(proc: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (f"{what} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}"
                                  f"\nstderr:\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def root():
    # Outside the repository and outside pytest's tmp root: the embedded PostgreSQL runs as an
    # unprivileged user that must traverse the venv (its binaries) and the state folder, and
    # pytest keeps its tmp root 0700.
    path = Path(tempfile.mkdtemp(prefix="hmb-ops-wheel-"))
    path.chmod(0o755)
    assert not path.resolve().is_relative_to(REPO.resolve())
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel(root) -> Path:
    """Build from a copy of the sources, so the build writes nothing into the work tree."""
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "hmb_ops", src / "hmb_ops", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = root / "dist"
    proc = _run([sys.executable, "-m", "pip", "wheel", src, "--no-deps", "-w", dist, "-q"], cwd=root,
                env=dict(os.environ))
    if proc.returncode and any(t in proc.stdout + proc.stderr for t in NETWORK_TROUBLE):
        pytest.skip("the package index is unreachable (the build needs setuptools from it)")
    _ok(proc, "pip wheel")
    (whl,) = dist.glob("hmb_ops-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(root, wheel) -> Path:
    """A clean venv (no system site-packages) from the base interpreter, the wheel installed with
    its dependencies from the index."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    path = root / "venv"
    _ok(_run([base, "-m", "venv", path], cwd=root, env=dict(os.environ), timeout=300), "python -m venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    proc = _run([path / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=root, env=env, timeout=1200)
    if proc.returncode and any(t in proc.stdout + proc.stderr for t in NETWORK_TROUBLE):
        pytest.skip("the package index is unreachable (the wheel's dependencies come from it)")
    _ok(proc, "pip install <wheel>")
    return path


@pytest.fixture(scope="module")
def user(root, venv):
    """Run the installed `hmb-ops` from an empty folder, with its own state folder and no trace of
    this checkout (no PYTHONPATH, no config override, no database URL)."""
    work = root / "work"
    work.mkdir()
    state = root / "state"
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "DATABASE_URL", "HMB_OPS_STATE_DIR", "HMB_OPS_CONFIG",
            "HMB_OPS_CONFIG_DIR", "HMB_OPS_TEST_DATABASE_URL", "GITHUB_STEP_SUMMARY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HMB_OPS_STATE_DIR"] = str(state)

    def run(*args, timeout=600):
        return _run(args, cwd=work, env=env, timeout=timeout)

    run.work = work
    yield run
    run("hmb-ops", "db", "down", timeout=120)


def test_the_wheel_carries_the_shipped_yaml(wheel):
    assert SHIPPED, "no shipped YAML in hmb_ops/configs"
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(n for n in names if n.startswith("hmb_ops/configs/") and n.endswith(".yaml")) == SHIPPED
    assert not any(n.startswith("configs/") for n in names)


def test_installed_package_is_the_wheel_not_the_checkout(user, venv):
    proc = _ok(user("python", "-c", "import hmb_ops, sys; print(hmb_ops.__file__); print(sys.prefix)"), "import")
    location, prefix = proc.stdout.split()
    assert Path(location).resolve().is_relative_to(venv.resolve())
    assert not Path(location).resolve().is_relative_to(REPO.resolve())
    assert Path(prefix).resolve() == venv.resolve()
    profiles = _ok(user("python", "-c", "from hmb_ops.loadtest.profiles import load_profiles; "
                                        "print(' '.join(load_profiles()))"), "load_profiles")
    assert {"smoke", "ci", "step"} <= set(profiles.stdout.split())


def test_tune_tiers_lists_the_shipped_tiers(user):
    proc = _ok(user("hmb-ops", "tune", "tiers"), "hmb-ops tune tiers")
    for tier in ("small", "default", "high"):
        assert tier in proc.stdout
    doc = json.loads(_ok(user("hmb-ops", "tune", "tiers", "--json"), "hmb-ops tune tiers --json").stdout)
    assert {"small", "default", "high"} <= {t["name"] for t in doc["tiers"]}


def test_smoke_load_test_then_indexes_plan_on_the_embedded_database(user, root):
    # `make demo`: embedded PostgreSQL, seed, the shipped indexes, the reference app, 20 s of load.
    proc = _ok(user("hmb-ops", "loadtest", "--profile", "smoke", timeout=900), "hmb-ops loadtest --profile smoke")
    assert "hmb-ops results: smoke" in proc.stdout  # report's console view of the run
    assert "results:" in proc.stderr and str(root / "state") in proc.stderr
    # Load runs use a copy of the seeded template (docs/confinement.md), so the default database
    # is still empty: `indexes plan` says so in one line and names the seed command.
    empty = user("hmb-ops", "indexes", "plan")
    assert empty.returncode == 2 and "none of the spec's" in empty.stderr and "db seed" in empty.stderr, empty.stderr
    _ok(user("hmb-ops", "db", "seed", "--scale", "small", timeout=600), "hmb-ops db seed")
    # The declared indexes are the shipped spec, read from the installed package.
    proc = _ok(user("hmb-ops", "indexes", "plan"), "hmb-ops indexes plan")
    assert "declared indexes" in proc.stdout
    doc = json.loads(_ok(user("hmb-ops", "indexes", "plan", "--json"), "hmb-ops indexes plan --json").stdout)
    assert doc["spec"] == "hmb_ops/configs/indexes.yaml"
    assert doc["summary"]["declared"] > 0
    _ok(user("hmb-ops", "db", "down", timeout=120), "hmb-ops db down")
    # Run from an empty folder, everything went to the state folder.
    assert list(user.work.iterdir()) == []
