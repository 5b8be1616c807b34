"""A database that belongs to a user, not to hmb-ops: their own tables, a foreign key and a view.

Safety tests point hmb-ops at it and then check that every foreign object is still there, intact.
"""

from __future__ import annotations

import pytest

FOREIGN_DDL = (
    "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, name text)",
    ("INSERT INTO users (email, name) SELECT 'u' || g || '@example.org', 'user ' || g"
     " FROM generate_series(1, 500) g"),
    ("CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id),"
     " total numeric NOT NULL)"),
    "INSERT INTO orders (user_id, total) SELECT 1 + (g % 500), g FROM generate_series(1, 300) g",
    ("CREATE VIEW order_totals AS SELECT u.email, sum(o.total) AS total FROM users u"
     " JOIN orders o ON o.user_id = u.id GROUP BY u.email"),
)


def foreign_snapshot(url: str) -> dict:
    """What the user's objects look like now: row counts, the view, the foreign key, a checksum."""
    from hmb_ops.db.connect import connection

    with connection(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('users') IS NOT NULL, to_regclass('orders') IS NOT NULL,"
                    " to_regclass('order_totals') IS NOT NULL")
        users_t, orders_t, view = cur.fetchone()
        snap = {"users": users_t, "orders": orders_t, "order_totals": view}
        if users_t:
            cur.execute("SELECT count(*), md5(string_agg(email || coalesce(name, ''), ',' ORDER BY id))"
                        " FROM users")
            snap["users_rows"] = cur.fetchone()
        if orders_t:
            cur.execute("SELECT count(*) FROM orders")
            snap["orders_rows"] = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'f'")
            snap["orders_fks"] = cur.fetchone()[0]
    return snap


@pytest.fixture
def foreign_database(new_database):
    """A fresh database holding the user's own `users` (500 rows), `orders` (FK) and a view."""
    from hmb_ops.db.connect import connection

    url = new_database("foreign")
    with connection(url) as conn, conn.cursor() as cur:
        for statement in FOREIGN_DDL:
            cur.execute(statement)
        conn.commit()
    return url
