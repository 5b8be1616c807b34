from hmb_ops import errors


def test_exit_codes_by_kind():
    assert errors.UsageError("x").exit_code == 2
    assert errors.ConfigError("x").exit_code == 2
    assert errors.InvalidDatabaseUrl("x").exit_code == 2
    assert errors.CheckFailed("x").exit_code == 1
    for cls in (errors.DatabaseUnavailable, errors.PortInUse, errors.StateDirError, errors.LockBusy):
        assert cls("x").exit_code == 3


def test_one_line_collapses_whitespace_and_adds_hint():
    e = errors.ConfigError("bad\n value", path="a.yaml", line=3, field="x.y", hint="fix it")
    assert e.one_line() == "a.yaml:3: field 'x.y': bad value (fix it)"
