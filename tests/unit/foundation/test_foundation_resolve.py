"""Which database a run uses, without a server: the embedded branch with EmbeddedServer stubbed."""

from __future__ import annotations

import pytest

from hmb_ops.db import embedded, resolve
from hmb_ops.errors import DatabaseUnavailable


class _Gone:
    """An embedded server that is up but whose URL cannot be built (port or password file gone)."""

    downs = 0

    def __init__(self, state_dir):
        pass

    def up(self):
        return embedded.EmbeddedStatus(running=True, url=None, port=None, data_dir="x", initialized=True), True

    def url(self):
        return None

    def down(self):
        _Gone.downs += 1
        return True


@pytest.fixture
def gone(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(embedded, "EmbeddedServer", _Gone)
    _Gone.downs = 0
    return _Gone


def test_resolve_without_an_embedded_url_is_database_unavailable(gone, tmp_path):
    with pytest.raises(DatabaseUnavailable, match="not running"):
        resolve.resolve(None, tmp_path)
    with pytest.raises(DatabaseUnavailable, match="not running"):
        resolve.resolve(None, tmp_path, start=False)


def test_a_run_never_gets_a_missing_url_and_stops_what_it_started(gone, tmp_path):
    with pytest.raises(DatabaseUnavailable, match="not running"), resolve.database_for_run(None, tmp_path):
        pass
    assert gone.downs == 1


def test_a_configured_url_wins_over_the_embedded_server(gone, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/app")
    with resolve.database_for_run(None, tmp_path) as (url, started):
        assert (url, started) == ("postgresql://u:p@db.example:5432/app", False)
    assert resolve.resolve("postgresql://u:p@h:1/d", tmp_path).source == "flag"
