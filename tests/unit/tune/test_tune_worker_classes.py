"""The worker-class registry: kinds, deprecations, settings with no effect, installed or not."""

from __future__ import annotations

import pytest

from hmb_ops.tune import worker_classes as wcs
from hmb_ops.tune.validate import worker_class_problem


@pytest.mark.parametrize("name, kind", [
    ("sync", wcs.SYNC), ("gthread", wcs.THREADS), ("gunicorn.workers.gthread.ThreadWorker", wcs.THREADS),
    ("gevent", wcs.GREENLETS), ("gevent_pywsgi", wcs.GREENLETS), ("eventlet", wcs.GREENLETS),
    ("uvicorn_worker.UvicornWorker", wcs.ASGI), ("uvicorn_worker.UvicornH11Worker", wcs.ASGI),
    ("uvicorn.workers.UvicornWorker", wcs.ASGI), ("asgi", wcs.ASGI), ("uvicorn", wcs.ASGI),
])
def test_kinds(name, kind):
    assert wcs.kind_of(name) == kind


def test_unknown_class_has_no_entry():
    assert wcs.lookup("myworkers.Fancy") is None
    assert wcs.kind_of("myworkers.Fancy") is None
    assert wcs.kind_of(None) == wcs.SYNC  # Gunicorn's default


def test_deprecated_uvicorn_workers_name_the_replacement():
    wc = wcs.lookup("uvicorn.workers.UvicornWorker")
    assert wc.deprecated and wc.replacement == "uvicorn_worker.UvicornWorker"
    assert "uvicorn_worker.UvicornWorker" in wc.notes()[0]
    assert wcs.lookup("uvicorn_worker.UvicornWorker").notes() == []


def test_eventlet_is_removed():
    assert "removed in Gunicorn 26" in wcs.lookup("eventlet").problem()


def test_threads_have_no_effect_for_uvicorn_workers():
    lines = wcs.ignored_settings("uvicorn_worker.UvicornWorker", {"threads": 2, "workers": 1})
    assert len(lines) == 1 and lines[0].startswith("threads=2 has no effect with uvicorn_worker.UvicornWorker")
    assert wcs.ignored_settings("uvicorn_worker.UvicornWorker", {"threads": 1}) == []
    assert wcs.ignored_settings("gthread", {"threads": 4}) == []
    wc_lines = wcs.ignored_settings("uvicorn.workers.UvicornWorker", {"worker_connections": 50})
    assert "limit_concurrency" in wc_lines[0]
    assert wcs.ignored_settings("uvicorn", {"preload_app": True})[0].startswith("preload_app=True has no effect")


def test_installed_classes_load(monkeypatch):
    for name in ("sync", "gthread", "uvicorn_worker.UvicornWorker", "uvicorn.workers.UvicornWorker", "asgi"):
        assert worker_class_problem(name) is None, name


def test_not_installed_class_says_which_package(monkeypatch):
    monkeypatch.setattr(wcs, "module_available", lambda module: not module.startswith("uvicorn"))
    problem = worker_class_problem("uvicorn_worker.UvicornWorker")
    assert "uvicorn-worker package, which is not installed" in problem
    problem = worker_class_problem("uvicorn.workers.UvicornWorker")
    assert "uvicorn_worker.UvicornWorker" in problem and "deprecated" in problem


def test_standalone_uvicorn_is_not_a_gunicorn_worker_class():
    assert "not a Gunicorn worker class" in worker_class_problem("uvicorn")


def test_registry_to_dict_is_plain():
    d = wcs.lookup("uvicorn_worker.UvicornWorker").to_dict()
    assert d["kind"] == "asgi" and d["installed"] is True and "threads" in d["ignored"]
