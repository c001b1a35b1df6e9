"""The generated documents stay true: docs/cli.md is the command line's own description, and
docs/architectures.md's table is the rules table. ``python tests/project/test_docs.py`` (``make
docs``) rewrites both."""

from __future__ import annotations

import re
from pathlib import Path

import click
import typer

from rys_gguf.arch import support_table
from rys_gguf.cli import app
from rys_gguf.cli.helpformat import PanelCommand, _sections

ROOT = Path(__file__).resolve().parents[2]
CLI_DOC = ROOT / "docs" / "cli.md"
ARCH_DOC = ROOT / "docs" / "architectures.md"
CLI_HEAD = """# Command line reference

Generated from the command line itself (`make docs`; a test keeps it current). Every command
also answers `--help`. Options are grouped as `--help` shows them: a family (Grid, Probes,
Runtime, Search, Build, Workers) is declared once and shared by every command that takes it.
Exit codes: 0 done, 1 `verify` found a failed check, 2 the input or an option was refused (one
line on stderr says which and how to fix it), 130 interrupted.
"""


def cli_markdown() -> str:
    """Every command: its summary, usage and options by family, as Markdown."""
    group = typer.main.get_command(app)
    assert isinstance(group, click.Group)
    ctx = click.Context(group, info_name="rys-gguf")
    lines = [CLI_HEAD]
    for name, cmd in group.commands.items():
        sub = click.Context(cmd, info_name=name, parent=ctx)
        usage = " ".join(cmd.collect_usage_pieces(sub))
        lines += [f"## `rys-gguf {name}`", "", cmd.help or "", "", "```text", f"rys-gguf {name} {usage}", "```", ""]
        helps = cmd.argument_help if isinstance(cmd, PanelCommand) else {}
        for title, rows in _sections(cmd.get_params(sub), helps).items():
            rows = [(head, text) for head, text in rows if not head.startswith("--help")]
            if rows:
                lines += [f"**{title}**", ""]
                lines += [f"- `{head}`: {text}".rstrip(": ") for head, text in rows]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def arch_section() -> str:
    text = ARCH_DOC.read_text()
    m = re.search(r"<!-- archs:start -->\n(.*?)<!-- archs:end -->", text, re.S)
    assert m, "docs/architectures.md has no archs markers"
    return m.group(1)


def test_cli_reference_is_the_cli() -> None:
    assert CLI_DOC.read_text() == cli_markdown(), "docs/cli.md is stale: run make docs"


def test_architecture_table_is_the_rules() -> None:
    assert arch_section().strip() == support_table().strip(), "docs/architectures.md is stale: run make docs"


def write_docs() -> None:
    CLI_DOC.write_text(cli_markdown())
    text = ARCH_DOC.read_text()
    body = support_table()
    pattern = r"(<!-- archs:start -->\n).*?(<!-- archs:end -->)"
    text = re.sub(pattern, lambda m: f"{m[1]}{body}\n{m[2]}", text, flags=re.S)
    ARCH_DOC.write_text(text)


if __name__ == "__main__":
    write_docs()
