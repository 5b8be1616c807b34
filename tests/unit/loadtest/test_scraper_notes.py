"""The scraper is never silent about a family: a named family the endpoint lacks is a gap and a
note; a counter falling between scrapes again and again is an endpoint served per worker; families
hmb-ops asks for on its own (the reference app's, created on first use) are neither."""

from __future__ import annotations

import http.server
import re
import threading
from typing import ClassVar

import pytest

from hmb_ops.loadtest.prom_scrape import Scraper


class _Page(http.server.BaseHTTPRequestHandler):
    n: ClassVar[list[int]] = [0]

    def log_message(self, *_a):
        pass

    def do_GET(self):
        n = self.n[0] = self.n[0] + 1
        value = 1000 + n if n % 2 else 10 + n  # two workers' own counters, answering in turn
        body = f"# TYPE depth gauge\ndepth 3\n# TYPE hits_total counter\nhits_total {value}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def url():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/metrics"
    srv.shutdown()
    srv.server_close()


def test_missing_named_family_is_a_gap_and_a_note_but_an_optional_one_is_not(url):
    sc = Scraper(url, ("depth", "nope", "first_use"), optional=("first_use",))
    values, gap = sc.sample()
    assert values["depth"] == 3 and values["nope"] is None
    assert gap == f"metrics: nope not in the answer of {url}"
    notes = sc.notes()
    assert notes == {"nope": f"not exposed by {url}: no sample"}


def test_a_counter_falling_between_scrapes_says_the_endpoint_looks_per_process(url):
    sc = Scraper(url, ("hits_total",))
    for _ in range(6):
        sc.sample()
    note = sc.notes()["hits_total"]
    assert re.match(r"went backwards [23] times between scrapes", note), note
    assert "looks per-process" in note and "PROMETHEUS_MULTIPROC_DIR" in note
