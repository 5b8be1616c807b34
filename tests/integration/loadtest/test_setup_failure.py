"""A scenario whose setup fails (a refused login), with no think time (the `step` profile, every
capacity run): each user records its login failure and retries it at a bounded pace; the run ends
on time with the failed login as its only row. It used to spin: the loop's requests needed the
token, were never sent, never yielded, and a 4 s run recorded nothing and was killed late."""

from __future__ import annotations

from pathlib import Path

from hmb_ops.loadtest.api import LoadRequest, run_load
from hmb_ops.loadtest.behaviour import SETUP_RETRY_S

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "shop" / "scenario.yaml"

WRONG_PASSWORD = """\
scenario:
  name: refused
  setup:
    - name: POST /login
      method: POST
      path: /login
      json: {email: nobody@example.com, password: wrong}
      capture:
        token: {json: $.token}
  requests:
    - name: POST /items
      method: POST
      path: /items
      headers: {Authorization: "Bearer {{ token }}"}
      json: {title: x}
"""


def test_a_refused_login_with_no_think_time_is_recorded_and_retried_at_a_bounded_pace(shop_app, tmp_path):
    (tmp_path / "refused.yaml").write_text(WRONG_PASSWORD)
    users, duration = 2, 4
    doc = run_load(LoadRequest(profile="step", target=shop_app.url, scenario=str(tmp_path / "refused.yaml"),
                               users=users, duration=duration, out_dir=str(tmp_path / "r")))
    assert doc.config["think_time"] == [0.0, 0.0]
    by_name = {e.name: e for e in doc.endpoints}
    login = by_name["POST /login"]
    # every attempt sent and recorded as what it was; the loop's request never ran without a token
    assert login.requests >= users and login.failures_by_kind == {"http_401": login.requests}
    assert login.requests <= users * (duration / SETUP_RETRY_S + 2), login.requests
    assert "POST /items" not in by_name
    assert not any("did not finish in time" in r for r in doc.invalid_reasons), doc.invalid_reasons
    assert doc.summary.requests == login.requests and doc.summary.failures == login.requests
