"""What `db status` reports: running or not, version, masked URL, data size."""

from __future__ import annotations

from pathlib import Path

from hmb_ops.db import dsn as dsnmod
from hmb_ops.db.resolve import configured_url
from hmb_ops.errors import DatabaseUnavailable


def _query(url: str) -> dict:
    from hmb_ops.db.connect import connection

    with connection(url, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version'), pg_database_size(current_database()),"
                        " current_setting('max_connections')::int")
            version, size, max_conn = cur.fetchone()
        ownership = _ownership(conn)
    return {"version": version, "data_size_bytes": size, "max_connections": max_conn, "ownership": ownership}


def _ownership(conn) -> dict | None:
    """Which tables hmb-ops created here, which it did not (and never touches), how far the seed got."""
    from hmb_ops.db.schema import survey
    from hmb_ops.db.seed import read_seed_record
    from hmb_ops.errors import HmbOpsError

    try:
        found = survey(conn)
        meta = read_seed_record(conn)
    except HmbOpsError:
        return None
    return {**found.to_dict(), "seed_state": meta["state"] if meta else None,
            "shared": bool(meta and meta["shares_database"])}


def database_status(flag_url: str | None, state_dir: Path) -> dict:
    configured = configured_url(flag_url)
    if configured:
        url, source = configured
        dsnmod.parse(url)
        report = {"running": False, "source": source, "url": dsnmod.mask(url), "version": None,
                  "data_size_bytes": None}
        try:
            report.update(_query(url), running=True)
        except DatabaseUnavailable as exc:
            report["error"] = exc.one_line()
        return report
    from hmb_ops.db.embedded import EmbeddedServer

    server = EmbeddedServer(state_dir)
    st = server.status()
    report = {"running": st.running, "source": "embedded", "url": dsnmod.mask(st.url) if st.url else None,
              "version": None, "data_size_bytes": server.data_size_bytes() if st.initialized else None,
              "data_dir": st.data_dir}
    if st.running and st.url:
        try:
            q = _query(st.url)
            report.update(version=q["version"], max_connections=q["max_connections"], ownership=q["ownership"])
        except DatabaseUnavailable as exc:
            report["error"] = exc.one_line()
    elif st.initialized:
        try:
            report["version"] = (Path(st.data_dir) / "PG_VERSION").read_text().strip()
        except OSError:
            pass
    return report
