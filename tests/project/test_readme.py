"""The README stays true: its usage block matches --help, its support table matches the rules."""

from __future__ import annotations

import re
from pathlib import Path

from rys_gguf.arch import support_table
from rys_gguf.cli import app
from rys_gguf.cli.command import Param

README = Path(__file__).resolve().parents[2] / "README.md"


def _shown(p: Param) -> str:
    name = (p.metavar or p.name.upper()) + ("..." if p.many else "")
    return f"[{name}]" if p.optional else name


def usage_block() -> str:
    """Every command with its arguments, summary and options, as --help states them."""
    lines = []
    for name, cmd in app.commands.items():
        args = " ".join(_shown(p) for p in cmd.flat_params if p.positional)
        lines.append(f"rys-gguf {name} {args} [OPTIONS]".replace("  ", " "))
        lines.append(f"    {cmd.summary}")
        for p in cmd.flat_params:
            if not p.positional:
                lines.append(f"    {', '.join(p.flags):<22} {p.help}")
    return "\n".join(lines)


def section(name: str) -> str:
    text = README.read_text()
    m = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert m, f"README.md has no {name} markers"
    return m.group(1)


def test_usage_block_matches_help() -> None:
    assert section("usage").strip().removeprefix("```text").removesuffix("```").strip() == usage_block()


def test_support_table_matches_rules() -> None:
    assert section("archs").strip() == support_table().strip()


def test_file_map_lists_every_module() -> None:
    text = README.read_text()
    files = text[text.index("\n## Files") : text.index("\n## Development")]
    package = README.parent / "rys_gguf"
    missing = [
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and p.name not in files
    ]
    missing += [
        f"{d.name}/"
        for d in package.iterdir()
        if d.is_dir() and (d / "__init__.py").exists() and f"{d.name}/" not in files
    ]
    assert missing == []


def test_two_commands_on_top() -> None:
    head = README.read_text().split("\n## ", 1)[0]
    assert "make demo" in head and "make test" in head


def write_sections() -> None:
    """Regenerate both README sections (``python tests/test_readme.py``)."""
    text = README.read_text()
    for name, body in (("usage", f"```text\n{usage_block()}\n```"), ("archs", support_table())):
        pattern = rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)"
        text = re.sub(pattern, lambda m, body=body: f"{m[1]}{body}\n{m[2]}", text, flags=re.S)
    README.write_text(text)


if __name__ == "__main__":
    write_sections()
