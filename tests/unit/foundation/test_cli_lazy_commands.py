"""A command module that cannot be imported is an internal error naming it, never "No such command"."""

from __future__ import annotations

import pytest

from hmb_ops.cli import main as cli_main


def run(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        cli_main.main(argv)
    return exc.value.code, capsys.readouterr().err


@pytest.mark.parametrize("module,attr", [("hmb_ops.cli.no_such_module", "report"),  # ImportError
                                         ("hmb_ops.cli.common", "no_such_command")])  # no attribute
def test_broken_command_module_is_an_internal_error_naming_it(monkeypatch, capsys, module, attr):
    monkeypatch.setitem(cli_main.COMMANDS, "report", (module, attr, "Render a results JSON."))
    monkeypatch.delitem(cli_main.cli.commands, "report", raising=False)
    monkeypatch.delenv("HMB_OPS_DEBUG", raising=False)
    code, err = run(["report", "results.json"], capsys)
    assert code == 70, err
    assert "No such command" not in err
    assert err.startswith("error: internal error: ImportError: ") and module in err and "'report'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_debug_shows_the_import_traceback(monkeypatch, capsys):
    monkeypatch.setitem(cli_main.COMMANDS, "report", ("hmb_ops.cli.no_such_module", "report", "x"))
    monkeypatch.delitem(cli_main.cli.commands, "report", raising=False)
    with pytest.raises(ImportError, match=r"hmb_ops\.cli\.no_such_module"):
        cli_main.main(["--debug", "report", "results.json"])


def test_unknown_command_is_still_a_usage_error(capsys):
    code, err = run(["no-such-command"], capsys)
    assert code == 2 and "No such command" in err
