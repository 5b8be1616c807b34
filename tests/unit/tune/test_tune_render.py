"""Rendering: deterministic bytes, real Gunicorn setting names only, four files that agree."""

from __future__ import annotations

import yaml

from hmb_ops.private_files import TOKEN_SECRET_ENV, TOKEN_SECRET_PLACEHOLDER
from hmb_ops.resources import Resources
from hmb_ops.tune.api import plan_for, render_files, tier_environment, write_files
from hmb_ops.tune.check import check_directory, evaluate_config
from hmb_ops.tune.deploy.env_files import parse
from hmb_ops.tune.plan import AppProfile
from hmb_ops.tune.recommend import recommend
from hmb_ops.tune.validate import known_settings


def default_plan(**kw):
    return plan_for(tier="default", worker_memory="64MB", **kw)


def test_same_inputs_byte_identical(tmp_path):
    a = render_files(default_plan())
    b = render_files(default_plan())
    assert a == b
    write_files(default_plan(), tmp_path / "one")
    write_files(default_plan(), tmp_path / "two")
    for name in a:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes() == a[name].encode()


def test_config_uses_only_known_settings_and_env_overrides(tmp_path):
    files = render_files(default_plan())
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(files["gunicorn.conf.py"])
    ev = evaluate_config(conf, env={})
    assert ev["unknown"] == []
    assert set(ev["settings"]) <= known_settings()
    s = ev["settings"]
    assert (s["workers"], s["threads"], s["worker_class"], s["timeout"]) == (4, 4, "gthread", 60)
    assert s["bind"] == "0.0.0.0:10000"
    over = evaluate_config(conf, env={"WEB_CONCURRENCY": "3", "WEB_THREADS": "2", "GUNICORN_TIMEOUT": "90",
                                      "PORT": "8080"})["settings"]
    assert (over["workers"], over["threads"], over["timeout"], over["bind"]) == (3, 2, 90, "0.0.0.0:8080")


def test_files_agree_by_construction(tmp_path):
    plan = default_plan()
    write_files(plan, tmp_path)
    env = tier_environment(plan)
    # The env file also carries the token secret placeholder; render.yaml has Render generate it.
    written = tmp_path / "hmb-ops.env"
    assert parse(written, written.read_text())[0] == {**env, TOKEN_SECRET_ENV: TOKEN_SECRET_PLACEHOLDER}
    render = yaml.safe_load((tmp_path / "render.yaml").read_text())
    svc = render["services"][0]
    assert {e["key"]: e["value"] for e in svc["envVars"] if "value" in e} == env
    assert {"key": TOKEN_SECRET_ENV, "generateValue": True} in svc["envVars"]
    assert svc["startCommand"] == "gunicorn --config gunicorn.conf.py hmb_ops.refapp.wsgi:app"
    assert (tmp_path / "Procfile").read_text().splitlines()[1:] == [
        "web: gunicorn --config gunicorn.conf.py hmb_ops.refapp.wsgi:app"]
    report = check_directory(tmp_path)
    assert report.ok, [f.message for f in report.findings]
    assert len(report.surfaces) == 4


def test_no_timestamps_and_other_app_has_no_refapp_hooks():
    plan = recommend(Resources(2, "t", 2 ** 31, "t", dev_shm=False), AppProfile(app="myapp.wsgi:application"))
    conf = render_files(plan)["gunicorn.conf.py"]
    assert "refapp" not in conf
    assert "worker_tmp_dir" not in conf
    assert 'wsgi_app = "myapp.wsgi:application"' in conf
    for text in render_files(plan).values():
        assert "2026" not in text and "UTC" not in text


def test_write_files_leaves_no_temp_files(tmp_path):
    write_files(default_plan(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Procfile", "gunicorn.conf.py", "hmb-ops.env", "render.yaml"]
