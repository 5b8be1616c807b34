"""DSN masking holds for every URL a user can give, valid or malformed (issue #11 item 7).

The property tests embed generated passwords (any text, with '/', '@', '%', ':', '?', '#', '&',
'=', quotes, backslashes and spaces favoured) into URL and keyword forms, valid and malformed,
and check that the password never appears in a parse error, a masked URL, masked free text or
the output of the CLI's error funnel.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from hmb_ops.cli import main as cli_main
from hmb_ops.db import connect as connect_mod, dsn
from hmb_ops.errors import EXIT_BAD_INPUT, InvalidDatabaseUrl

SPECIAL = "/@%:?#&= '\"\\+,[]"
PASSWORDS = st.text(
    alphabet=st.one_of(st.sampled_from(SPECIAL), st.characters(blacklist_categories=("Cs",),
                                                               blacklist_characters="\x00")),
    min_size=4, max_size=24)


def _bare(pw: str) -> str:
    """A libpq keyword value without quotes: backslash escapes spaces, quotes and backslashes."""
    return "".join("\\" + c if c.isspace() or c in "'\\" else c for c in pw)


def _quoted(pw: str) -> str:
    return "'" + pw.replace("\\", "\\\\").replace("'", "\\'") + "'"


# (name, URL with the password in it, the password as written in that URL)
SHAPES = {
    "userinfo raw": lambda pw: (f"postgresql://app:{pw}@127.0.0.1:1/hmb", pw),
    "userinfo encoded": lambda pw: (f"postgresql://app:{quote(pw, safe='')}@127.0.0.1:1/hmb", quote(pw, safe="")),
    "userinfo half encoded": lambda pw: (f"postgres://app:{quote(pw, safe='/@:%')}@127.0.0.1:1/hmb",
                                         quote(pw, safe="/@:%")),
    "userinfo raw with query": lambda pw: (f"postgresql://app:{pw}@127.0.0.1:1/hmb?sslmode=disable", pw),
    "query raw": lambda pw: (f"postgresql://127.0.0.1:1/hmb?password={pw}&sslmode=disable", pw),
    "query encoded": lambda pw: (f"postgresql://127.0.0.1:1/hmb?sslmode=disable&password={quote(pw, safe='')}",
                                 quote(pw, safe="")),
    "keyword bare": lambda pw: (f"host=127.0.0.1 port=1 password={_bare(pw)} dbname=hmb", _bare(pw)),
    "keyword quoted": lambda pw: (f"host=127.0.0.1 port=1 password={_quoted(pw)} dbname=hmb", _quoted(pw)),
    "keyword unterminated": lambda pw: (f"host=127.0.0.1 password='{pw}", pw),
    "no host": lambda pw: (f"postgresql://app:{pw}", pw),
    "empty host": lambda pw: (f"postgresql://app:{quote(pw, safe='')}@/hmb", quote(pw, safe="")),
    "other scheme": lambda pw: (f"mysql://app:{pw}@127.0.0.1:1/hmb", pw),
}

# Every fixed text an output can hold: the sources that build the messages, the URL templates,
# and the outputs for a reference password. A generated password that is a piece of this text
# would be "found" without any leak, so such passwords are skipped.
VOCAB = "\n".join([inspect.getsource(dsn), inspect.getsource(cli_main), inspect.getsource(connect_mod),
                   *(f(" ")[0] for f in SHAPES.values()),
                   ('connection to server at "127.0.0.1", port 1 failed: Connection refused '
                    "Is the server running on that host and accepting TCP/IP connections?"),
                   ('"schema_version": 1, "running": false, "source": "flag", "url": "postgresql://app:***'
                    '@127.0.0.1:1/hmb?password=***&sslmode=disable", "version": null, "data_size_bytes": null, '
                    '"error": "cannot connect to '), "malformed database URL postgresql://***@127.0.0.1:1/hmb?***",
                   "postgresql://app:***@127.0.0.1:1/hmb", "postgresql://127.0.0.1:1/hmb?password=***"])


def _usable(pw: str, written: str, shape: str) -> list[str]:
    assume(pw not in VOCAB)
    if shape == "no host":
        # Without an '@' there is no password: when 'postgresql://app:TEXT' parses, TEXT is a
        # port or a host list ('app:5432', 'app:,db2'), which a valid URL shows; after an '@'
        # ('app:@db') it is the host.
        assume("@" not in pw)
        try:
            dsn.parse(SHAPES[shape](pw)[0])
        except InvalidDatabaseUrl:
            pass
        else:
            assume(False)
    return [s for s in {pw, written} if len(s) >= 4 and s not in VOCAB]


def _absent(secrets: list[str], text: str, what: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{what} shows the password {secret!r}: {text!r}"


@pytest.mark.parametrize("shape", sorted(SHAPES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pw=PASSWORDS)
def test_no_generated_password_in_errors_or_masked_text(shape, pw):
    url, written = SHAPES[shape](pw)
    secrets = _usable(pw, written, shape)
    try:
        parsed = dsn.parse(url)
    except InvalidDatabaseUrl as exc:  # either outcome is right; each is checked for leaks
        assert exc.exit_code == EXIT_BAD_INPUT  # noqa: PT017 - parsing may also succeed: no pytest.raises here
        _absent(secrets, exc.one_line(), "the parse error")
        _absent(secrets, str(exc), "the parse error")
    else:
        _absent(secrets, parsed.masked, "the masked URL")
        # A valid URL's password is known exactly: free text quoting it bare is masked too
        # (when pw is that password: in a raw shape '%41' in pw is an escape for 'A').
        if shape in ("userinfo encoded", "query encoded", "empty host") or "%" not in pw:
            _absent(secrets, dsn.mask_text(f"password {pw} rejected for {url}", url), "mask_text(url)")
    _absent(secrets, dsn.mask(url), "mask()")
    _absent(secrets, dsn.mask_text(f"could not connect to {url}: refused", url), "mask_text with the URL")
    if not any(c.isspace() for c in url):  # in free text a URL ends at whitespace
        _absent(secrets, dsn.mask_text(f"could not connect to {url}: refused"), "mask_text without the URL")


@contextlib.contextmanager
def _no_database_url_env():
    saved = os.environ.pop("DATABASE_URL", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["DATABASE_URL"] = saved


def _run_funnel(args: list[str]) -> tuple[int, str]:
    """The CLI's entry point in this process: its exit code and everything it printed."""
    out, err = io.StringIO(), io.StringIO()
    with _no_database_url_env(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli_main.main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("shape", ["userinfo raw", "userinfo encoded", "query raw", "keyword quoted", "no host"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pw=PASSWORDS)
def test_error_funnel_never_prints_a_generated_password(shape, pw):
    url, written = SHAPES[shape](pw)
    secrets = _usable(pw, written, shape)
    for args in (["--database-url", url, "db", "status"], ["--database-url", url, "--json", "db", "status"]):
        code, printed = _run_funnel(args)
        assert code in (2, 3), (code, printed)  # malformed (2) or unreachable port 1 (3)
        _absent(secrets, printed, f"hmb-ops {' '.join(args[2:])}")


# The cases and the decisions on what is valid.
@pytest.mark.parametrize("url,problem", [
    ("postgresql://u:pa/ssWORD@127.0.0.1:1/db", "percent-encode '/' as %2F"),
    ("postgresql://u:p@ssWORD@127.0.0.1:1/db", "more than one '@'"),
    ("postgresql://u:p%ssWORD@127.0.0.1:1/db", "invalid percent-escape in the password"),
    ("postgresql://u:p%00ssWORD@127.0.0.1:1/db", "%00"),
    ("postgresql://u:p?ssWORD@127.0.0.1:1/db", "percent-encode '?'"),
    ("postgresql://u:p#ssWORD@127.0.0.1:1/db", "percent-encode '#'"),
    ("postgresql://u:p ssWORD@127.0.0.1:1/db", "space"),
    ("postgresql://127.0.0.1:1/db?password=p&ssWORD", "not KEY=VALUE"),
    ("postgresql://127.0.0.1:1/db?password=p=ssWORD", "not KEY=VALUE"),
    ("postgresql://127.0.0.1:1/db?password=p&ssWORD=x", "not a libpq connection option"),
    ("host=127.0.0.1 password=ssWORD", "keyword DSN"),
    ("host=127.0.0.1 password='p ssWORD'", "keyword DSN"),
    ("postgresql://u:ssWORD@127.0.0.1:99999/db", "port out of range"),
    ("postgresql://u:/ssWORD@127.0.0.1:1/db", "an '@' after the host"),
    ("postgresql://u:1/?host=ssWORD@127.0.0.1/db", "an '@' after the host"),
    ("postgresql://u:p@s/ssWORD@127.0.0.1/db", "an '@' after the host"),
])
def test_malformed_urls_exit_2_without_any_piece_of_the_password(url, problem):
    with pytest.raises(InvalidDatabaseUrl) as exc:
        dsn.parse(url)
    line = exc.value.one_line()
    assert exc.value.exit_code == EXIT_BAD_INPUT
    assert problem in line
    assert "ssWORD" not in line and "pa/" not in line
    assert "ssWORD" not in dsn.mask(url)


@pytest.mark.parametrize("url,password", [
    ("postgresql://u:p:ssWORD@127.0.0.1:1/db", "p:ssWORD"),       # ':' after the first is the password's
    ("postgresql://u:pa%2FssWORD@127.0.0.1:1/db", "pa/ssWORD"),
    ("postgresql://u:p%40ssWORD@127.0.0.1:1/db", "p@ssWORD"),
    ("postgresql://u:p%25ssWORD@h/db", "p%ssWORD"),
    ("postgresql://h/db?password=p%26ssWORD&sslmode=disable", "p&ssWORD"),
    ("postgresql://u@h/db?application_name=a@b", None),            # with credentials, a query may hold '@'
    ("postgresql://u:pw@[::1]:5432,h2:5433/db", "pw"),              # libpq's multi-host and IPv6 forms
])
def test_valid_urls_mask_exactly_their_password(url, password):
    parsed = dsn.parse(url)
    masked = parsed.masked
    if password:
        assert password not in masked and "***" in masked
        assert password not in dsn.mask_text(f"auth failed for {password}", url)
    assert "127.0.0.1" in masked or "h" in masked


def test_masked_url_keeps_everything_but_the_password():
    assert dsn.mask("postgresql://u:pa%2Fss@db.example:6543/hmb?sslmode=require&password=x%26y") == \
        "postgresql://u:***@db.example:6543/hmb?sslmode=require&password=***"


def test_keyword_passwords_are_masked_in_free_text():
    text = "dsn host=h password='a b\\'c' user=x and password=bareQ\\ wordZ end"
    masked = dsn.mask_text(text)
    assert masked == "dsn host=h password=*** user=x and password=*** end"
    assert "user=x" in masked and "end" in masked
