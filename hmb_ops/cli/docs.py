"""Generate the command reference in docs/commands/ from the click command tree.

`python -m hmb_ops.cli.docs` (or `make docs`) walks the root group of hmb_ops.cli.main, lazily
loaded groups included, and rewrites one page per command group (docs/commands/<group>.md; the
root's global options go to docs/commands/index.md). Only the blocks between
`<!-- BEGIN GENERATED: <command> -->` and `<!-- END GENERATED -->` are rewritten, so the prose
written around them survives; a command without a block gets one appended to its page, and a
block whose command is gone is removed. `--check` rewrites nothing and exits 1 when a page is stale
(tests/unit/docs/ runs the same check).

The option tables come from the click objects themselves (names, type, default, help), so the
docs cannot drift from `--help`. This module imports every command module: it is a build tool,
never imported at `hmb-ops` start-up.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import click

ROOT_KEY = "hmb-ops"
INDEX_PAGE = "index"
END_MARKER = "<!-- END GENERATED -->"
BLOCK_RE = re.compile(r"<!-- BEGIN GENERATED: (?P<key>[^>]+?) -->\n(?P<body>.*?)" + re.escape(END_MARKER),
                      re.DOTALL)
# A code span, kept as it is; everything else gets its HTML-looking characters escaped.
CODE_SPAN_RE = re.compile(r"(`[^`]*`)")


@dataclass(frozen=True)
class CommandDoc:
    """One command of the tree: `key` names its block ("db seed"; "hmb-ops" for the root)."""

    key: str
    page: str
    command: click.Command
    ctx: click.Context


def walk(root: click.Command | None = None) -> list[CommandDoc]:
    """Every visible command under `root` (default: the `hmb-ops` root group), parents first."""
    if root is None:
        from hmb_ops.cli.main import cli

        root = cli
    found: list[CommandDoc] = []

    def visit(cmd: click.Command, ctx: click.Context, path: tuple[str, ...]) -> None:
        key = " ".join(path) if path else ROOT_KEY
        found.append(CommandDoc(key, path[0] if path else INDEX_PAGE, cmd, ctx))
        if not isinstance(cmd, click.Group):
            return
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None:
                # A listed command that does not load is a broken module: the docs must not
                # quietly leave it out.
                raise RuntimeError(f"command {' '.join((*path, name))!r} is listed but could not be loaded")
            if sub.hidden:
                continue
            visit(sub, click.Context(sub, info_name=name, parent=ctx), (*path, name))

    visit(root, click.Context(root, info_name=ROOT_KEY), ())
    return found


# -- rendering one command ------------------------------------------------------------------------

def _escape(text: str) -> str:
    """Markdown-safe text for prose and table cells: `<`, `>` and `|` outside code spans would
    become HTML tags (`user<i>@…` renders in italics) or split a table cell."""
    parts = CODE_SPAN_RE.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part.replace("|", "\\|"))
        else:
            out.append(part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|"))
    return "".join(out)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def help_paragraphs(cmd: click.Command) -> list[str]:
    """The command's help as Markdown paragraphs: click's `\\f` cuts it, `\\b` keeps a paragraph's
    line breaks (rendered as a text block)."""
    text = inspect.cleandoc(cmd.help or "").split("\f", 1)[0]
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        if not para.strip():
            continue
        if para.startswith("\b"):
            paragraphs.append("```text\n" + para[1:].strip("\n") + "\n```")
        else:
            paragraphs.append(_escape(_one_line(para)))
    return paragraphs


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _range(kind: click.ParamType) -> str:
    if not isinstance(kind, (click.IntRange, click.FloatRange)):
        return ""
    low = "" if kind.min is None else _number(kind.min)
    high = "" if kind.max is None else _number(kind.max)
    if low and high:
        return f" {low}–{high}"
    return f" ≥ {low}" if low else f" ≤ {high}"


def type_cell(param: click.Parameter) -> str:
    """What the option takes: `flag`, the choices, or its metavar/type name with any range."""
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    kind = param.type
    if isinstance(kind, click.Choice):
        text = "`" + "|".join(str(c) for c in kind.choices) + "`"
    elif param.metavar:
        text = f"`{param.metavar}`"
    else:
        # IntRange/FloatRange are called "integer range"; the range itself follows.
        name = {click.IntRange: "integer", click.FloatRange: "float"}.get(type(kind), kind.name)
        text = f"`{name.upper()}`"
    text += _range(kind)
    if getattr(param, "multiple", False):
        text += ", repeatable"
    return _escape(text)


def _unset(value: object) -> bool:
    # click 8.2+ marks "no default" with a sentinel object instead of None.
    return value is None or type(value).__name__ == "Sentinel"


def default_cell(param: click.Parameter, ctx: click.Context) -> str:
    value = param.get_default(ctx, call=False)
    if _unset(value) or value == () or value == []:
        text = "—"
    elif isinstance(value, bool):
        text = "on" if value else "off"
    elif callable(value):
        text = "computed"
    elif isinstance(value, (list, tuple)):
        text = "`" + ",".join(str(v) for v in value) + "`"
    else:
        text = f"`{value}`"
    envvar = getattr(param, "envvar", None)
    if envvar:
        names = [envvar] if isinstance(envvar, str) else list(envvar)
        text += "; env " + ", ".join(f"`{n}`" for n in names)
    return _escape(text)


def names_cell(param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        return f"`{param.metavar or param.name.upper()}` (argument)"
    names = ", ".join(f"`{n}`" for n in param.opts)
    if param.secondary_opts:
        names += " / " + ", ".join(f"`{n}`" for n in param.secondary_opts)
    return names


def help_cell(param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        return "required" if param.required else "optional"
    return _escape(_one_line(param.help)) or "—"


def documented_params(cmd: click.Command, ctx: click.Context) -> list[click.Parameter]:
    """Every parameter a user can pass, minus hidden ones and -h/--help (every command has it;
    docs/commands/index.md says so once)."""
    help_option = cmd.get_help_option(ctx)
    return [p for p in cmd.get_params(ctx)
            if p is not help_option and not getattr(p, "hidden", False)]


def render_block(doc: CommandDoc) -> str:
    """The generated body of one command's block: usage, help, options, subcommands."""
    cmd, ctx = doc.command, doc.ctx
    usage = " ".join([ctx.command_path, *cmd.collect_usage_pieces(ctx)])
    lines = ["```text", usage, "```", ""]
    for para in help_paragraphs(cmd):
        lines += [para, ""]
    params = documented_params(cmd, ctx)
    if params:
        lines += ["| option | takes | default | meaning |", "|---|---|---|---|"]
        lines += [f"| {names_cell(p)} | {type_cell(p)} | {default_cell(p, ctx)} | {help_cell(p)} |" for p in params]
        lines.append("")
    if isinstance(cmd, click.Group):
        listed = [(name, cmd.get_command(ctx, name)) for name in cmd.list_commands(ctx)]
        subs = [(name, sub) for name, sub in listed if sub is not None and not sub.hidden]
        if subs:
            lines += ["| command | what it does |", "|---|---|"]
            lines += [f"| `{ctx.command_path} {name}` | {_escape(sub.get_short_help_str(limit=200))} |"
                      for name, sub in subs]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# -- pages ------------------------------------------------------------------------------------------

def _block(key: str, body: str) -> str:
    return f"<!-- BEGIN GENERATED: {key} -->\n{body}{END_MARKER}"


def _heading(key: str) -> str:
    return f"`{key}`" if key == ROOT_KEY else f"`hmb-ops {key}`"


def new_page(page: str) -> str:
    title = "Global options" if page == INDEX_PAGE else f"`hmb-ops {page}`"
    return (f"# {title}\n\n"
            "The blocks between GENERATED markers are written by `make docs` from the click commands;\n"
            "edit the help texts in `hmb_ops/cli/`, not those blocks.\n")


def update_page(text: str, blocks: dict[str, str]) -> str:
    """`text` with every generated block replaced by `blocks[key]`, blocks of commands that are
    gone removed, and a heading and block appended for each command the page lacked."""
    seen: set[str] = set()

    def replace(match: re.Match) -> str:
        key = match.group("key").strip()
        if key not in blocks or key in seen:
            return ""
        seen.add(key)
        return _block(key, blocks[key])

    text = BLOCK_RE.sub(replace, text)
    missing = [key for key in blocks if key not in seen]
    if missing:
        text = text.rstrip("\n") + "\n"
        for key in missing:
            text += f"\n## {_heading(key)}\n\n{_block(key, blocks[key])}\n"
    return text


def generate(docs_dir: Path, root: click.Command | None = None) -> dict[Path, str]:
    """Page path -> the text it should have, built from the pages on disk (prose kept)."""
    by_page: dict[str, dict[str, str]] = {}
    for doc in walk(root):
        by_page.setdefault(doc.page, {})[doc.key] = render_block(doc)
    pages: dict[Path, str] = {}
    for page, blocks in by_page.items():
        path = docs_dir / "commands" / f"{page}.md"
        current = path.read_text(encoding="utf-8") if path.exists() else new_page(page)
        pages[path] = update_page(current, blocks)
    return pages


def problems(docs_dir: Path, root: click.Command | None = None) -> list[str]:
    """What on disk disagrees with the commands: undocumented commands and options, stale blocks.
    Empty when the pages are up to date."""
    found: list[str] = []
    for doc in walk(root):
        path = docs_dir / "commands" / f"{doc.page}.md"
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        bodies = {m.group("key").strip(): m.group("body") for m in BLOCK_RE.finditer(text)}
        if doc.key not in bodies:
            found.append(f"{path}: command {_heading(doc.key)} is undocumented (no generated block)")
            continue
        body = bodies[doc.key]
        for param in documented_params(doc.command, doc.ctx):
            if names_cell(param) not in body:
                found.append(f"{path}: option {names_cell(param)} of {_heading(doc.key)} is undocumented")
        if body != render_block(doc):
            found.append(f"{path}: the generated block of {_heading(doc.key)} is stale")
    for path, text in generate(docs_dir, root).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text and not any(p.startswith(f"{path}:") for p in found):
            found.append(f"{path}: differs from what the commands generate (a block of a removed command?)")
    return found


LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
FENCE_RE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


def markdown_files(repo: Path) -> list[Path]:
    """README.md and every page under docs/: the files whose links are checked."""
    return [repo / "README.md", *sorted((repo / "docs").rglob("*.md"))]


def broken_links(files: list[Path]) -> list[str]:
    """Relative links (`](path)` or `](path#anchor)`) that point at no file, as `file: target`.
    Web and mail links are not followed; anchors are not checked (a heading may be reworded)."""
    found = []
    for path in files:
        text = FENCE_RE.sub("", path.read_text(encoding="utf-8"))
        for target in LINK_RE.findall(text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            if not (path.parent / target.split("#", 1)[0]).exists():
                found.append(f"{path}: broken link {target}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmb_ops.cli.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--docs-dir", type=Path, default=Path("docs"), help="default: ./docs")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a page is stale")
    args = parser.parse_args(argv)
    # A command module that fails to import must stop the docs build, not vanish from the docs.
    os.environ.setdefault("HMB_OPS_STRICT_IMPORTS", "1")
    if args.check:
        stale = problems(args.docs_dir)
        links = broken_links(markdown_files(args.docs_dir.resolve().parent))
        for line in stale + links:
            print(line, file=sys.stderr)
        if stale:
            print("the command docs are out of date: run `make docs`", file=sys.stderr)
        return 1 if stale or links else 0
    for path, text in generate(args.docs_dir).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
