"""`tune check` core: the seed fixture's every disagreement, isolation, bad directories and configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.tune.check import check_directory, evaluate_config
from hmb_ops.tune.cmdline import expand

SEED = Path(__file__).resolve().parents[2] / "fixtures" / "seed_app"


def findings(report, kind=None, key=None):
    return [f for f in report.findings if (kind is None or f.kind == kind) and (key is None or f.key == key)]


def test_seed_fixture_every_disagreement():
    report = check_directory(SEED)
    assert not report.ok
    surfaces = {s.name: s.settings for s in report.surfaces}
    assert surfaces["gunicorn.conf.py"]["worker_class"] == "gthread"
    assert surfaces["Procfile web"]["worker_class"] == "uvicorn.workers.UvicornWorker"
    # gthread vs Uvicorn workers
    wc = findings(report, "drift", "worker_class")[0]
    assert {v["value"] for v in wc.values} == {"gthread", "uvicorn.workers.UvicornWorker"}
    # no preload vs --preload
    pre = findings(report, "drift", "preload_app")[0]
    assert {(v["surface"], v["value"]) for v in pre.values} >= {("gunicorn.conf.py", False), ("Procfile web", True)}
    # a different app module
    app = findings(report, "drift", "app")[0]
    assert {v["value"] for v in app.values} == {"final_backend_postgresql:application", "backend.app.main:app"}
    # WEB_CONCURRENCY=2 in render.yaml vs 4
    workers = findings(report, "drift", "workers")[0]
    by_surface = {v["surface"]: v["value"] for v in workers.values}
    assert by_surface["gunicorn.conf.py"] == 4
    assert by_surface["render.yaml hiremebahamas-backend"] == 2
    assert "WEB_CONCURRENCY=2" in next(v["origin"] for v in workers.values if v["value"] == 2)
    # pool of 10 in the docs vs 5 in code
    pool = findings(report, "drift", "db_pool_max")[0]
    assert {(c["kind"], c["value"]) for c in pool.values} == {("docs", 10), ("code default", 5)}
    # uvicorn.workers on an installed Gunicorn 27 without uvicorn
    assert findings(report, "worker_class")
    # with the documented pool the connection budget breaks
    assert any("documented pool of 10" in f.message for f in findings(report, "budget", "db_connections"))


def test_budget_with_declared_max_connections():
    report = check_directory(SEED, max_connections=40)
    msgs = [f.message for f in findings(report, "budget", "db_connections")]
    assert any("(4 workers × pool 5 (code default) + 4 background) × 2 during deploys = 48 > 0.8 × "
               "max_connections 40 (declared) = 32" in m for m in msgs)


def test_memory_budget(tmp_path):
    report = check_directory(SEED, memory_bytes=256 * 1024 ** 2, worker_memory_bytes=100 * 1024 ** 2)
    assert findings(report, "budget", "memory")


def test_environment_does_not_leak_into_evaluation(tmp_path, monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "17")
    ev = evaluate_config(SEED / "gunicorn.conf.py", env={})
    assert ev["settings"]["workers"] == 4


def test_unknown_setting_and_misspelt_hook(tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text(
        "import os\nworkers = 2\nworker_conections = 100\n_private = 1\n"
        "def postfork(server, worker):\n    pass\ndef helper():\n    pass\n")
    report = check_directory(tmp_path)
    unknown = {f.key: f.message for f in findings(report, "unknown_setting")}
    assert set(unknown) == {"worker_conections", "postfork"}
    assert "did you mean 'worker_connections'" in unknown["worker_conections"]


def test_config_that_raises_names_file_and_exception(tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text("workers = 2\nthreads = int('four')\n")
    with pytest.raises(ConfigError) as exc:
        check_directory(tmp_path)
    msg = exc.value.one_line()
    assert "gunicorn.conf.py:2" in msg and "ValueError" in msg and "four" in msg


def test_config_that_hangs_is_stopped(tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text("while True:\n    pass\n")
    with pytest.raises(ConfigError, match="longer than 1 s"):
        check_directory(tmp_path, timeout=1)


def test_missing_and_not_a_directory(tmp_path):
    with pytest.raises(UsageError, match="no such directory"):
        check_directory(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        check_directory(tmp_path / "file")
    with pytest.raises(UsageError, match="no deploy files"):
        check_directory(tmp_path)


def test_unreadable_directory(tmp_path, monkeypatch):
    d = tmp_path / "locked"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0)
        try:
            with pytest.raises(UsageError, match="cannot read the directory"):
                check_directory(d)
        finally:
            d.chmod(0o755)
        return
    # root reads any directory: make listing fail the way permissions would.
    import hmb_ops.tune.check as check_mod

    def deny(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(check_mod.os, "listdir", deny)
    with pytest.raises(UsageError, match="cannot read the directory: Permission denied"):
        check_directory(d)


def test_env_file_and_procfile_inline_env(tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text("import os\nworkers = int(os.environ.get('WEB_CONCURRENCY', '4'))\n"
                                               "worker_class = 'gthread'\nthreads = 4\n")
    (tmp_path / ".env").write_text("# comment\nexport WEB_CONCURRENCY=3\n")
    (tmp_path / "Procfile").write_text("web: WEB_CONCURRENCY=6 gunicorn -c gunicorn.conf.py app:app\n"
                                       "worker: python jobs.py\n")
    report = check_directory(tmp_path)
    got = {s.name: s.settings["workers"] for s in report.surfaces}
    assert got == {"gunicorn.conf.py": 4, "Procfile web": 6, "gunicorn.conf.py + .env": 3}
    assert findings(report, "drift", "workers")


def test_expand():
    env = {"A": "1", "E": ""}
    assert expand("${A:-9} ${B:-9} $A ${E:-x} ${E-x} ${B}", env) == "1 9 1 x  "


def test_secrets_in_deploy_files_are_masked(tmp_path):
    (tmp_path / "Procfile").write_text(
        "web: DATABASE_URL=postgresql://app:hunter2pw@db/app gunicorn -w 2 app:app\n")
    (tmp_path / "render.yaml").write_text(
        "services:\n  - type: web\n    name: api\n    startCommand: gunicorn -w 2 app:app\n    envVars:\n"
        "      - key: SECRET_KEY\n        value: s3cr3tvalue\n      - key: DATABASE_URL\n"
        "        value: postgresql://app:hunter2pw@db/app\n")
    import json

    text = json.dumps(check_directory(tmp_path).to_dict())
    assert "hunter2pw" not in text and "s3cr3tvalue" not in text
