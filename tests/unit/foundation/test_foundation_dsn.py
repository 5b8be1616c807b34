import pytest

from hmb_ops.db import dsn
from hmb_ops.errors import EXIT_BAD_INPUT, InvalidDatabaseUrl


def test_parse_accepts_both_schemes_and_reads_parts():
    u = dsn.parse("postgresql://app:pw@db.example:6543/hmb")
    assert (u.host, u.port, u.user, u.dbname) == ("db.example", 6543, "app", "hmb")
    assert dsn.parse("postgres://a@localhost/x").dbname == "x"
    assert dsn.parse("postgresql:///x?host=/var/run/postgresql").host == "/var/run/postgresql"


@pytest.mark.parametrize("bad", ["", "nope", "mysql://u:p@h/db", "postgresql://u:p@h:99999/db",
                                 "postgresql://u:p@h:abc/db", "postgresql:///db"])
def test_parse_rejects_malformed_urls_with_exit_2_and_no_password(bad):
    with pytest.raises(InvalidDatabaseUrl) as exc:
        dsn.parse(bad.replace("p@", "s3cret@"))
    assert exc.value.exit_code == EXIT_BAD_INPUT
    assert "s3cret" not in exc.value.one_line()


@pytest.mark.parametrize("url,expected", [
    ("postgresql://u:s3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("postgresql://h/db?password=s3cret&sslmode=require", "postgresql://h/db?password=***&sslmode=require"),
    ("garbage://u:s3cret@h", "garbage://u:***@h"),
])
def test_mask_hides_passwords_even_in_broken_urls(url, expected):
    assert dsn.mask(url) == expected


def test_mask_text_removes_password_from_free_text():
    url = "postgresql://u:p%40ss@h/db"
    text = "failed for postgresql://u:p%40ss@h/db, password p@ss rejected"
    masked = dsn.mask_text(text, url)
    assert "p@ss" not in masked and "p%40ss" not in masked


def test_with_database_keeps_credentials():
    u = dsn.parse("postgresql://u:pw@h:1/a").with_database("b")
    assert u.url == "postgresql://u:pw@h:1/b" and u.dbname == "b"
