"""The shop app (tests/fixtures/shop_app): a small Flask app that is not the reference app, seeded in
its own fresh database and served by real Gunicorn (2 gthread workers) on a free loopback port.

    def test_x(shop_app):
        url, pid, database_url = shop_app      # or shop_app.url, shop_app.pid, shop_app.database_url

`pid` is the Gunicorn master (for --server-pid); /metrics sums both workers (see shop.py). The
accounts that log in are in SHOP_ACCOUNTS_CSV (the same file as examples/shop/accounts.csv).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import pytest

SHOP_DIR = Path(__file__).resolve().parent / "fixtures" / "shop_app"
SHOP_ACCOUNTS_CSV = SHOP_DIR / "accounts.csv"
SHOP_ITEMS = 500  # ids 1..500 exist after seeding; 501 and above answer 404


class ShopApp(NamedTuple):
    url: str
    pid: int
    database_url: str


def start_shop(database_url: str, log_dir: Path, *, workers: int = 2):
    """Seed `database_url` and start the shop under Gunicorn; returns the started GunicornProcess."""
    from hmb_ops.stack.gunicorn import GunicornProcess

    if str(SHOP_DIR) not in sys.path:
        sys.path.insert(0, str(SHOP_DIR))
    from seed import seed

    seed(database_url, items=SHOP_ITEMS)
    proc = GunicornProcess(database_url, workers=workers, config_file=str(SHOP_DIR / "gunicorn.conf.py"),
                           app="shop:create_app()", log_dir=str(log_dir))
    return proc.start(ready_timeout=60)


@pytest.fixture
def shop_app(new_database, tmp_path):
    """(url, Gunicorn master pid, database url) of a freshly seeded shop app; stopped afterwards."""
    proc = start_shop(new_database("shop"), tmp_path / "shop_gunicorn")
    try:
        yield ShopApp(proc.url, proc.pid, proc.database_url)
    finally:
        proc.stop()
