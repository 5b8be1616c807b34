"""The shop app fixture answers as documented (the other any-app tests rely on it)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import psutil
from fixtures_shop import SHOP_ACCOUNTS_CSV, SHOP_ITEMS


def call(url: str, method: str = "GET", *, body=None, form=None, token: str | None = None):
    data, headers = None, {}
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    elif form is not None:
        data, headers["Content-Type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def health_count(text: str) -> float:
    found = re.search(r'^shop_http_requests_total\{endpoint="/health",method="GET",status="200"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_shop_app_endpoints_and_metrics(shop_app):
    url, pid, database_url = shop_app
    assert len(psutil.Process(pid).children()) == 2  # real Gunicorn, two workers
    assert database_url != "" and "shop_" in database_url

    email, password = SHOP_ACCOUNTS_CSV.read_text().splitlines()[1].split(",")
    assert call(url + "/login", "POST", body={"email": email, "password": "wrong"})[0] == 401
    assert call(url + "/login", "POST", body=["not", "an", "object"])[0] == 400
    status, _, text = call(url + "/login", "POST", body={"email": email, "password": password})
    assert status == 200
    token = json.loads(text)["token"]

    status, _, text = call(url + "/items?q=red&limit=5")
    items = json.loads(text)["items"]
    assert status == 200 and len(items) == 5 and all("red" in it["title"] for it in items)
    assert call(url + "/items?limit=zero")[0] == 400

    status, headers, text = call(url + "/items/7")
    assert status == 200 and headers["X-Item-Id"] == "7" and json.loads(text)["id"] == 7
    assert call(url + f"/items/{SHOP_ITEMS + 1}")[0] == 404

    assert call(url + "/items", "POST", form={"title": "no token"})[0] == 401
    assert call(url + "/items", "POST", form={"title": "bad"}, token="not-a-token")[0] == 401
    status, headers, _ = call(url + "/items", "POST", form={"title": "form mug"}, token=token)
    assert status == 201 and int(headers["X-Item-Id"]) == SHOP_ITEMS + 1
    status, _, text = call(url + "/items", "POST", body={"title": "json mug", "price_cents": 5}, token=token)
    assert status == 201 and json.loads(text)["price_cents"] == 5
    assert call(url + "/items", "POST", body={"color": "red"}, token=token)[0] == 400

    before = health_count(call(url + "/metrics")[2])
    for _ in range(20):  # spread over both workers: the counts below must sum them
        assert call(url + "/health")[0] == 200
    status, headers, text = call(url + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert health_count(text) - before == 20
    assert re.search(r'^shop_http_requests_total\{endpoint="/items/<int:item_id>",method="GET",status="404"\} 1\.0$',
                     text, re.M)
    assert re.search(r"^shop_http_requests_in_flight \S+$", text, re.M)
    assert re.search(r'^shop_http_request_duration_seconds_bucket\{endpoint="/health",le="\+Inf"\} \d+\.0$',
                     text, re.M)
    assert "shop_db_query_duration_seconds_count" in text


def test_the_examples_log_in_with_the_accounts_the_fixture_seeds():
    examples = SHOP_ACCOUNTS_CSV.parents[3] / "examples" / "shop" / "accounts.csv"
    assert examples.read_text() == SHOP_ACCOUNTS_CSV.read_text()
