"""A plain Locust file for the shop app (tests/fixtures/shop_app): it runs under `locust` as it is,
and under hmb-ops with `hmb-ops loadtest --locustfile examples/shop/locustfile.py --target URL`.

Each user logs in once with a row of accounts.csv, then browses and sometimes adds an item.
`name=` groups /items/1, /items/2 … as one row, "GET /items/{id}", in the results.
"""

import csv
import itertools
import random
from pathlib import Path

from locust import HttpUser, between, task

with open(Path(__file__).with_name("accounts.csv"), newline="", encoding="utf-8") as fh:
    ACCOUNTS = itertools.cycle(list(csv.DictReader(fh)))
WORDS = ("red", "green", "blue", "black", "white")


class Shopper(HttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self):
        account = next(ACCOUNTS)
        resp = self.client.post("/login", json={"email": account["email"], "password": account["password"]},
                                name="POST /login")
        self.token = resp.json()["token"] if resp.status_code == 200 else ""

    @task(3)
    def search(self):
        self.client.get("/items", params={"q": random.choice(WORDS), "limit": 20}, name="GET /items")

    @task(5)
    def item(self):
        # Ids above 500 do not exist: a 404 there is expected, not a failure.
        item_id = random.randint(1, 520)
        with self.client.get(f"/items/{item_id}", name="GET /items/{id}", catch_response=True) as resp:
            if resp.status_code in (200, 404):
                resp.success()
            else:
                resp.failure(f"status {resp.status_code}")

    @task(1)
    def add(self):
        self.client.post("/items", data={"title": f"{random.choice(WORDS)} example mug", "price_cents": 990},
                         headers={"Authorization": f"Bearer {self.token}"}, name="POST /items")
