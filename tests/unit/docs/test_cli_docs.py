"""The command reference in docs/commands/ is generated from the click commands and must match them.

The pages are regenerated in memory and compared with the files on disk: a command or option
without a generated block, or a block that differs from what the code generates, fails with
"run `make docs`". The checker itself is shown to notice a fake option, a fake command and a
changed help text, and regeneration is shown to keep the prose around the blocks.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import click
import pytest

from hmb_ops.cli import docs
from hmb_ops.cli.main import cli

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs"


@pytest.fixture(autouse=True)
def _strict_imports(monkeypatch):
    # A command module that fails to import must fail these tests, not vanish from the docs.
    monkeypatch.setenv("HMB_OPS_STRICT_IMPORTS", "1")


def _root_ctx() -> click.Context:
    return click.Context(cli, info_name="hmb-ops")


def _patched_root(group: str, name: str, change) -> click.Group:
    """A copy of the root group whose `group name` command is `change(copy of the command)`
    (or a new command when `name` does not exist); the real commands stay untouched."""
    root = copy.copy(cli)
    root.commands = dict(cli.commands)
    real_group = cli.get_command(_root_ctx(), group)
    fake_group = copy.copy(real_group)
    fake_group.commands = dict(real_group.commands)
    existing = real_group.commands.get(name)
    fake_group.commands[name] = change(copy.copy(existing) if existing else None)
    root.commands[group] = fake_group
    return root


def test_every_command_and_option_is_documented_and_up_to_date():
    found = docs.problems(DOCS)
    assert not found, "\n".join(found) + "\nthe command docs are out of date: run `make docs`"


def test_every_command_group_has_its_page_and_the_root_its_index():
    pages = {doc.page for doc in docs.walk()}
    top = set(cli.list_commands(_root_ctx()))
    assert pages == top | {"index"}
    for page in pages:
        assert (DOCS / "commands" / f"{page}.md").is_file(), f"docs/commands/{page}.md is missing: run `make docs`"


def test_the_readme_links_every_command_group_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in cli.list_commands(_root_ctx()):
        assert f"](docs/commands/{name}.md)" in readme, f"README.md does not link docs/commands/{name}.md"


def test_checker_notices_an_option_added_to_a_command():
    def add_option(cmd):
        cmd.params = [*cmd.params, click.Option(["--fake-option"], help="Not documented anywhere.")]
        return cmd

    before = set(docs.problems(DOCS))
    found = [p for p in docs.problems(DOCS, _patched_root("db", "seed", add_option)) if p not in before]
    assert any("`--fake-option` of `hmb-ops db seed` is undocumented" in p for p in found), found
    assert any("generated block of `hmb-ops db seed` is stale" in p for p in found), found
    # The real command is untouched, and the pages of other groups are not blamed.
    assert not any(p.name == "fake_option" for p in cli.get_command(_root_ctx(), "db").commands["seed"].params)
    assert all("db.md" in p for p in found), found


def test_checker_notices_a_new_command():
    def new_command(_missing):
        @click.command(help="A command nobody documented.")
        @click.option("--level", type=click.IntRange(1, 3), default=2)
        def fake():
            pass

        return fake

    found = docs.problems(DOCS, _patched_root("db", "fake", new_command))
    assert any("command `hmb-ops db fake` is undocumented" in p for p in found), found
    # The group's own block lists its commands, so it is stale too.
    assert any("generated block of `hmb-ops db` is stale" in p for p in found), found


def test_checker_notices_a_changed_help_text():
    def reword(cmd):
        cmd.params = [copy.copy(p) for p in cmd.params]
        for p in cmd.params:
            if p.name == "as_json":
                p.help = "Something else entirely."
        return cmd

    found = docs.problems(DOCS, _patched_root("db", "status", reword))
    assert any("generated block of `hmb-ops db status` is stale" in p for p in found), found


def test_regeneration_keeps_prose_replaces_blocks_and_drops_removed_commands():
    text = ("# Title\n\nhand-written intro\n\n"
            "<!-- BEGIN GENERATED: db up -->\nold text\n<!-- END GENERATED -->\n\n"
            "prose about db up\n\n"
            "<!-- BEGIN GENERATED: db gone -->\ngone\n<!-- END GENERATED -->\n\ntrailing prose\n")
    out = docs.update_page(text, {"db up": "NEW UP\n", "db down": "NEW DOWN\n"})
    assert "hand-written intro" in out and "prose about db up" in out and "trailing prose" in out
    assert "<!-- BEGIN GENERATED: db up -->\nNEW UP\n<!-- END GENERATED -->" in out
    assert "old text" not in out and "db gone" not in out
    assert out.rstrip().endswith("<!-- BEGIN GENERATED: db down -->\nNEW DOWN\n<!-- END GENERATED -->")
    assert "## `hmb-ops db down`" in out
    # Regenerating the result changes nothing.
    assert docs.update_page(out, {"db up": "NEW UP\n", "db down": "NEW DOWN\n"}) == out


def test_make_docs_rewrites_a_stale_page_and_check_passes_afterwards(tmp_path, capsys):
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    page = tmp_path / "docs" / "commands" / "db.md"
    text = page.read_text(encoding="utf-8")
    stale = text.replace("| `--dry-run` |", "| `--dry-run-renamed` |", 1)
    assert stale != text
    page.write_text(stale + "\nprose added by hand\n", encoding="utf-8")

    assert docs.main(["--check", "--docs-dir", str(tmp_path / "docs")]) == 1
    err = capsys.readouterr().err
    assert "db.md: the generated block of `hmb-ops db seed` is stale" in err and "run `make docs`" in err

    assert docs.main(["--docs-dir", str(tmp_path / "docs")]) == 0
    rewritten = page.read_text(encoding="utf-8")
    assert "--dry-run-renamed" not in rewritten and "prose added by hand" in rewritten
    assert docs.problems(tmp_path / "docs") == []


def test_option_table_cells_stay_on_one_line_and_escape_markup():
    for doc in docs.walk():
        block = docs.render_block(doc)
        rows = [line for line in block.splitlines() if line.startswith("| `-")]
        assert len(rows) == len([p for p in docs.documented_params(doc.command, doc.ctx)
                                 if isinstance(p, click.Option)]), doc.key
        for row in rows:
            # 4 cells, so 5 unescaped pipes; a pipe inside a cell must be escaped.
            assert len(re.findall(r"(?<!\\)\|", row)) == 5, row
    seed = next(d for d in docs.walk() if d.key == "db seed")
    assert "user&lt;i&gt;@example.test" in docs.render_block(seed)


def test_relative_links_in_readme_and_docs_resolve():
    found = docs.broken_links(docs.markdown_files(REPO))
    assert not found, "\n".join(found)


def test_link_checker_notices_a_broken_link(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("x", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "[ok](docs/here.md) [ok too](docs/here.md#part) [web](https://example.com) [anchor](#top)\n"
        "[broken](docs/missing.md)\n```\n[in code](not/checked.md)\n```\n", encoding="utf-8")
    found = docs.broken_links(docs.markdown_files(tmp_path))
    assert len(found) == 1 and "docs/missing.md" in found[0], found
