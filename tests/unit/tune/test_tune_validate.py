"""Worker classes and setting names against the installed Gunicorn (27.x)."""

from __future__ import annotations

import pytest

from hmb_ops.errors import UsageError
from hmb_ops.tune.validate import (
    check_app_name,
    check_worker_class,
    suggest_setting,
    unknown_settings,
    worker_class_problem,
)


@pytest.mark.parametrize("name", ["sync", "gthread", "gevent", "gunicorn.workers.gthread.ThreadWorker"])
def test_available_worker_classes(name):
    assert worker_class_problem(name) is None


def test_eventlet_is_gone():
    assert "removed in Gunicorn 26" in worker_class_problem("eventlet")


def test_uvicorn_workers_need_uvicorn_worker_package(monkeypatch):
    from hmb_ops.tune import worker_classes

    monkeypatch.setattr(worker_classes, "module_available", lambda module: not module.startswith("uvicorn"))
    assert "uvicorn-worker" in worker_class_problem("uvicorn.workers.UvicornWorker")
    assert "uvicorn-worker" in worker_class_problem("uvicorn_worker.UvicornWorker")


def test_tornado_needs_tornado_and_unknown_alias():
    assert "tornado" in worker_class_problem("tornado")
    with pytest.raises(UsageError, match="unknown worker class 'threaded'"):
        check_worker_class("threaded")


def test_unknown_setting_names_and_suggestion():
    assert unknown_settings(["workers", "worker_conections", "threads"]) == ["worker_conections"]
    assert suggest_setting("worker_conections") == "worker_connections"
    assert suggest_setting("postfork") == "post_fork"


@pytest.mark.parametrize("bad", ["", "no colon here", "1mod:app", "mod:"])
def test_bad_app_names(bad):
    with pytest.raises(UsageError):
        check_app_name(bad)
