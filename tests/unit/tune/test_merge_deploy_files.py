"""tune --merge into the deploy files tune does not render: Dockerfile, compose, railway.toml/json,
nixpacks.toml, fly.toml. Only the web start commands and tune's variables change; everything else
stays byte for byte; the result agrees with itself under `tune check`; a second merge changes nothing."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from hmb_ops.errors import ConfigError
from hmb_ops.tune import deploy
from hmb_ops.tune.api import plan_for
from hmb_ops.tune.check import check_directory

PROJECTS = Path(__file__).resolve().parents[2] / "fixtures" / "deploy_projects"


def project(tmp_path, name) -> Path:
    dst = tmp_path / name
    shutil.copytree(PROJECTS / name, dst)
    return dst


def merge(folder: Path, app: str):
    plan = plan_for(tier="small", worker_memory="64MB", app=app)
    prepared = deploy.prepare(plan, folder, mode="merge")
    deploy.apply(prepared)
    return prepared


def changed_lines(before: str, after: str) -> list[str]:
    return [ln for ln in difflib.ndiff(before.splitlines(), after.splitlines()) if ln[:1] in "-+"]


def test_seed_layout_round_trip_keeps_foreign_content(tmp_path):
    folder = project(tmp_path, "seed_layout")
    before = {n: (folder / n).read_text() for n in ("Dockerfile", "railway.toml", "nixpacks.toml")}
    prepared = merge(folder, "app.main:app")
    assert {w.name: w.action for w in prepared.writes if w.name in before} == dict.fromkeys(before, "merge")
    docker = (folder / "Dockerfile").read_text()
    assert changed_lines(before["Dockerfile"], docker) == [
        ('- CMD ["sh", "-c", "gunicorn api.index:app --bind 0.0.0.0:${PORT:-8000} --workers 1 --threads 2 '
         '-k uvicorn.workers.UvicornWorker --timeout 120"]'),
        '+ CMD ["sh", "-c", "gunicorn --config gunicorn.conf.py app.main:app"]']
    railway = (folder / "railway.toml").read_text()
    assert changed_lines(before["railway.toml"], railway) == [
        '- startCommand = "gunicorn -w 5 -k uvicorn.workers.UvicornWorker app.main:app --bind 0.0.0.0:$PORT"',
        '+ startCommand = "gunicorn --config gunicorn.conf.py app.main:app"']
    nix = (folder / "nixpacks.toml").read_text()
    assert len(changed_lines(before["nixpacks.toml"], nix)) == 2
    assert '[phases.setup]\nnixPkgs = ["python311", "postgresql"]\n' in nix
    # Every start command now runs the plan's config: no disagreement on what tune owns.
    report = check_directory(folder)
    keys = {f.key for f in report.findings if f.kind == "drift"}
    assert not keys & {"app", "workers", "threads", "worker_class", "timeout"}
    # A second merge changes nothing.
    again = merge(folder, "app.main:app")
    actions = {w.name: w.action for w in again.writes}
    assert set(actions.values()) <= {"unchanged", "regenerate"}, actions


def test_compose_only_the_gunicorn_web_service_changes(tmp_path):
    folder = project(tmp_path, "compose_services")
    before = (folder / "docker-compose.yml").read_text()
    prepared = merge(folder, "shop.wsgi:app")
    after = (folder / "docker-compose.yml").read_text()
    assert changed_lines(before, after) == [
        "-     command: gunicorn shop.wsgi:app --workers ${WEB_WORKERS:-3} --timeout 45 --bind 0.0.0.0:8000",
        '+     command: "gunicorn --config gunicorn.conf.py shop.wsgi:app"',
        '-       DB_POOL_MAX: "8"',
        '+       DB_POOL_MAX: "5"']
    assert any("docker-compose.yml api" in n and "uvicorn directly" in n for n in prepared.left)
    assert (folder / "web.env").read_text() == (PROJECTS / "compose_services" / "web.env").read_text()


def test_fly_toml_process_and_env(tmp_path):
    folder = project(tmp_path, "fly_processes")
    before = (folder / "fly.toml").read_text()
    merge(folder, "acme.wsgi:application")
    after = (folder / "fly.toml").read_text()
    assert changed_lines(before, after) == [
        '-   WEB_CONCURRENCY = "3"', '+   WEB_CONCURRENCY = "2"',
        '-   app = "gunicorn acme.wsgi:application --threads 4 --bind 0.0.0.0:8080"',
        '+   app = "gunicorn --config gunicorn.conf.py acme.wsgi:application"']
    assert 'worker = "python -m acme.jobs --queue default"' in after


def test_dockerfile_shell_form_keeps_exec_and_its_env(tmp_path):
    folder = project(tmp_path, "shell_cmd")
    merge(folder, "shop.wsgi:app")
    text = (folder / "Dockerfile").read_text()
    assert text.endswith("ENV GUNICORN_THREADS 8\nCMD exec gunicorn --config gunicorn.conf.py shop.wsgi:app\n")
    assert "ENV APP_MODULE=shop.wsgi:app \\\n    WEB_CONCURRENCY=2\n" in text     # the plan's 2 workers


def test_railway_json_start_command(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "railway.json").write_text((PROJECTS / "mixed_platforms" / "railway.json").read_text())
    merge(folder, "shop.wsgi:app")
    text = (folder / "railway.json").read_text()
    assert '"startCommand": "gunicorn --config gunicorn.conf.py shop.wsgi:app",' in text
    assert '"$schema": "https://railway.com/railway.schema.json"' in text


def test_a_compound_command_is_not_rewritten(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    original = 'FROM python:3.11\nCMD ["sh", "-c", "python manage.py migrate && gunicorn app:app -w 3"]\n'
    (folder / "Dockerfile").write_text(original)
    plan = plan_for(tier="small", worker_memory="64MB", app="app:app")
    with pytest.raises(ConfigError, match="does more than start gunicorn") as exc:
        deploy.prepare(plan, folder, mode="merge")
    assert "Dockerfile:2" in exc.value.one_line()
    assert (folder / "Dockerfile").read_text() == original
    assert sorted(p.name for p in folder.iterdir()) == ["Dockerfile"]


def test_without_merge_other_files_are_not_touched(tmp_path):
    folder = project(tmp_path, "seed_layout")
    plan = plan_for(tier="small", worker_memory="64MB", app="app.main:app")
    prepared = deploy.prepare(plan, folder, mode="force")
    assert not {w.name for w in prepared.writes} & {"Dockerfile", "railway.toml", "nixpacks.toml"}


def test_flags_the_plans_worker_class_ignores_are_dropped(tmp_path):
    folder = project(tmp_path, "seed_layout")
    plan = plan_for(tier="small", worker_memory="64MB", app="app.main:app",
                    worker_class="uvicorn_worker.UvicornWorker")
    prepared = deploy.prepare(plan, folder, mode="merge")
    deploy.apply(prepared)
    assert (folder / "Procfile").read_text() == "web: gunicorn --config gunicorn.conf.py app.main:app\n"
    dropped = [o for o in prepared.overrides if o.setting == "threads"]
    assert {o.source.split(":")[0] for o in dropped} == {"Procfile web", "Dockerfile CMD", "nixpacks.toml start.cmd"}
    assert all("no effect with uvicorn_worker.UvicornWorker" in o.plan for o in dropped)
    assert not [f for f in check_directory(folder).findings if f.kind == "no_effect"]


def test_a_config_named_by_a_dockerfile_runs_first(tmp_path):
    folder = tmp_path / "p"
    (folder / "deploy").mkdir(parents=True)
    (folder / "deploy" / "gunicorn.py").write_text("workers = 7\naccesslog = '-'\n")
    (folder / "Dockerfile").write_text('FROM python:3.11\nCMD ["gunicorn", "-c", "deploy/gunicorn.py", "app:app"]\n')
    prepared = merge(folder, "app:app")
    assert prepared.chain == "deploy/gunicorn.py"
    assert ("workers", "deploy/gunicorn.py", "7", "2") in {(o.setting, o.source, o.yours, o.plan)
                                                          for o in prepared.overrides}
    assert (folder / "Dockerfile").read_text().endswith('CMD ["gunicorn", "--config", "gunicorn.conf.py", "app:app"]\n')
    assert "deploy/gunicorn.py" in (folder / "gunicorn.conf.py").read_text()


def test_without_merge_the_other_files_are_named(tmp_path):
    folder = project(tmp_path, "seed_layout")
    plan = plan_for(tier="small", worker_memory="64MB", app="app.main:app")
    prepared = deploy.prepare(plan, folder, mode="force")
    assert any(n.startswith("Dockerfile CMD (Dockerfile:8): starts Gunicorn with its own flags") for n in prepared.left)


def test_a_users_env_file_that_overrides_the_plan_is_named(tmp_path):
    # .env's WEB_CONCURRENCY wins over the plan wherever .env is loaded: said at once, .env left untouched.
    (tmp_path / "Procfile").write_text("web: gunicorn app:app -w 3\n")
    (tmp_path / ".env").write_text("WEB_CONCURRENCY=7\nWEB_THREADS=2\nDATABASE_URL=postgresql://u:pw@h/db\n")
    prepared = merge(tmp_path, "app:app")
    from hmb_ops.tune.render import app_environment

    workers = app_environment(plan_for(tier="small", worker_memory="64MB", app="app:app"))["WEB_CONCURRENCY"]
    notes = [n for n in prepared.left if n.startswith(".env:")]
    assert notes[0] == (f".env:1 sets WEB_CONCURRENCY=7, which overrides the plan's {workers} wherever .env is "
                        f"loaded; set it to {workers} or remove it")
    assert (tmp_path / ".env").read_text().startswith("WEB_CONCURRENCY=7\n")
    (tmp_path / ".env").write_text(f"WEB_CONCURRENCY={workers}\n")
    assert not [n for n in merge(tmp_path, "app:app").left if n.startswith(".env:")]


def test_compose_merge_reads_env_files_beside_the_compose_file(tmp_path):
    # The merged file is read again to verify it; that re-read once ran in a temporary folder without
    # the project's env files, which a missing-env_file check would refuse.
    folder = project(tmp_path, "compose_services")
    compose = folder / "docker-compose.yml"
    optional = "    env_file:\n      - web.env\n      - path: local.env\n        required: false\n"
    compose.write_text(compose.read_text().replace("    env_file: web.env\n", optional))
    (folder / "web.env").write_text("GUNICORN_TIMEOUT=45\nWEB_CONCURRENCY=9\n")
    before = compose.read_text()
    merge(folder, "shop.wsgi:app")
    after = compose.read_text()
    assert '+     command: "gunicorn --config gunicorn.conf.py shop.wsgi:app"' in changed_lines(before, after)
    assert (folder / "web.env").read_text() == "GUNICORN_TIMEOUT=45\nWEB_CONCURRENCY=9\n"   # not ours to edit
    (folder / "web.env").unlink()
    with pytest.raises(ConfigError, match=r"env_file web\.env does not exist"):
        merge(folder, "shop.wsgi:app")
