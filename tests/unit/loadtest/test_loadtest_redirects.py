"""Issue #11 item 8, the pieces: 3xx is the `redirect` failure kind, a run with redirects is not valid,
every rendering names the kind, and URLs in messages never show credentials or queries.
(Through the real generator, CLI and servers: tests/integration/safety/test_loadtest_redirects.py.)"""

from __future__ import annotations

import base64
import subprocess
import sys
from array import array

import pytest
from hypothesis import given, settings, strategies as st

from hmb_ops.loadtest.orchestrate import shown_url
from hmb_ops.loadtest.profiles import build_plan
from hmb_ops.loadtest.results import build_document
from hmb_ops.loadtest.runner import Collected
from hmb_ops.report import fmt

T0 = 1_800_000_000.0


def _doc(failures: dict[str, int] | None):
    plan = build_plan("smoke", users=2, duration=3)
    got = Collected(started_at=T0, ended_at=T0 + 3, processes=1)
    values = base64.b64encode(array("I", [1500] * 10).tobytes()).decode()
    for s in range(3):
        got.ingest({"t": T0 + s + 1.0, "users": 2, "v": {"GET /api/feed": values},
                    "f": {"GET /api/feed": failures} if failures else {}, "sent": 10})
    return build_document(plan=plan, collected=got, target="http://127.0.0.1:1", tier=None,
                          started_iso="2027-01-15T08:00:00+00:00", server=None, server_samples=None, config={})


def test_every_3xx_status_is_the_redirect_failure_kind():
    # behaviour imports locust (which monkey-patches the process): ask a child, like the generator.
    code = ("from hmb_ops.loadtest.behaviour import failure_kind as f; "
            "print(sorted({f(s) for s in range(300, 400)}), f(200), f(299), f(404), f(429), f(503))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['redirect'] None None http_404 rate_limited_429 http_503"


def test_redirects_make_the_run_not_valid_and_are_counted_as_failures():
    doc = _doc({"redirect": 10})
    s = doc.summary
    assert s.requests == 30 and s.failures == 30 and s.error_rate == 1.0
    assert s.failures_by_kind["redirect"] == 30
    assert doc.valid is False
    assert doc.invalid_reasons[0].startswith("30 of 30 answers were redirects (3xx, not followed)")
    assert "--target" in doc.invalid_reasons[0]


def test_a_single_redirect_is_enough_but_other_failures_keep_the_run_valid():
    assert _doc({"redirect": 1}).valid is False
    ok = _doc({"http_500": 2, "timeout": 1})
    assert ok.valid is True and "redirect" not in ok.summary.failures_by_kind


def test_every_rendering_names_the_redirect_kind():
    doc = _doc({"redirect": 4, "http_500": 1})
    facts = dict(fmt.run_facts(doc))
    assert facts["failures by kind"] == "http_500=3, redirect=12"
    assert facts["valid"].startswith("NO: 12 of 30 answers were redirects")
    clean = dict(fmt.run_facts(_doc(None)))
    assert "failures by kind" not in clean and clean["valid"] == "yes"


@pytest.mark.parametrize("fmt_name", ["console", "md"])
def test_the_report_views_print_the_kind(fmt_name):
    from hmb_ops.report import render

    out = render(fmt_name, _doc({"redirect": 2}))
    assert "redirect=6" in out and "NO: 6 of 30 answers were redirects" in out


@pytest.mark.parametrize("url, shown", [
    ("http://127.0.0.2:8080/next", "http://127.0.0.2:8080/next"),
    ("/login", "/login"),
    ("https://u:pw@example.test/a", "https://***@example.test/a"),
    ("http://u:pa/ss@h/x", "http://***@h/x"),        # '/' in the password
    ("http://u:p@ss@h/x", "http://***@h/x"),         # '@' in the password
    ("http://u:p?s#s@h/x", "http://***@h/x"),        # '?' and '#' in the password
    ("//u:pw@h/x", "//***@h/x"),                     # scheme-relative
    ("/sso?token=abc&next=/", "/sso?…"),
    ("http://h/cb#access_token=abc", "http://h/cb#…"),
    ("http://h/\r\nSet-Cookie: x", "http://h/%0D%0ASet-Cookie: x"),
])
def test_shown_url_masks_userinfo_and_drops_query(url, shown):
    assert shown_url(url) == shown


def test_shown_url_bounds_the_length():
    assert len(shown_url("http://h/" + "a" * 5000)) == 201


@settings(max_examples=300, deadline=None)
@given(user=st.text(min_size=0, max_size=12),
       password=st.text(st.characters(blacklist_categories=("Cs",)), min_size=6, max_size=30),
       query=st.text(min_size=6, max_size=30))
def test_no_password_or_query_text_ever_shown(user, password, query):
    for url in (f"http://{user}:{password}@127.0.0.2:8080/p?{query}", f"//{user}:{password}@h/?{query}",
                f"https://{user}:{password}@h"):
        shown = shown_url(url)
        assert password not in shown and ("?" + query) not in shown, (url, shown)


@pytest.mark.parametrize("target, needle", [
    ("http://127.0.0.1:99999", "the port is not a number from 1 to 65535"),
    ("http://127.0.0.1:x", "the port is not a number from 1 to 65535"),
    ("http://127.0.0.1:0", "the port is not a number from 1 to 65535"),
    ("ftp://me:pw-1234567@127.0.0.1/", "got 'ftp://***@127.0.0.1/'"),
])
def test_bad_targets_are_usage_errors_without_credentials(target, needle):
    from hmb_ops.errors import UsageError
    from hmb_ops.loadtest.orchestrate import check_target

    with pytest.raises(UsageError) as err:
        check_target(target, allow_remote=False)
    assert needle in err.value.one_line() and "pw-1234567" not in err.value.one_line()
