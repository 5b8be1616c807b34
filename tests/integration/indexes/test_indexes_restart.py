"""A server restart in the middle of a build: the next plan sees the invalid index, the next apply repairs it.

Uses a private embedded server (the session server is shared with other areas' tests).
"""

from __future__ import annotations

import pytest

from hmb_ops.errors import OperationFailed
from hmb_ops.indexes import api, service
from hmb_ops.indexes.plan import PlanOptions


@pytest.mark.slow
def test_server_restart_mid_build_is_repaired_by_the_next_apply(tmp_path, ixh):
    from hmb_ops.db.connect import connect
    from hmb_ops.db.embedded import EmbeddedServer
    from hmb_ops.db.schema import create_schema

    server = EmbeddedServer(tmp_path / "state")
    status, _ = server.up()
    try:
        url = status.url
        conn = connect(url)
        create_schema(conn)
        conn.close()
        ixh.fill_users(url, 100)
        spec = api.load_spec(ixh.write_spec(tmp_path, ixh.USERS_SPEC))
        blocker = connect(url, application_name="test blocker")
        blocker.set_session(isolation_level="REPEATABLE READ")
        with blocker.cursor() as cur:
            cur.execute("SELECT count(*) FROM reviews")
        thread, box = ixh.in_thread(service.apply, url, spec, PlanOptions(build_lock_wait_ms=60_000))
        ixh.wait_for_build(url, "idx_users_email_lower")
        server.restart()
        thread.join(60)
        blocker.close()
        assert isinstance(box.get("error"), OperationFailed), box
        assert "left INVALID" in box["error"].one_line()
        url = server.url()
        plan = service.make_plan(url, spec)
        assert {s.name: s.status for s in plan.indexes}["idx_users_email_lower"] == "invalid"
        service.apply(url, spec)
        assert service.make_plan(url, spec).actions == ()
    finally:
        server.down()
