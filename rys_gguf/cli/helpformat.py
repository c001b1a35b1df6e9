"""``--help`` as plain text with one section per option family (Grid, Probes, Runtime, ...).

typer groups options into panels only when it draws help with rich, and its help records load
rich even when it does not: together they take about twice the start-up of the rest of the
command line. These command classes write the same panels with click's own formatter instead.
"""

from __future__ import annotations

import click
from typer.core import TyperCommand, TyperGroup


def _metavar(p: click.Parameter) -> str:
    if isinstance(p.type, click.Choice):
        return "[" + "|".join(str(c) for c in p.type.choices) + "]"
    return p.type.name.upper()


def _record(p: click.Parameter, argument_help: dict[str, str]) -> tuple[str, str] | None:
    """(the flags or name, the help with its default and whether it is required)."""
    if getattr(p, "hidden", False):
        return None
    extras = []
    if isinstance(p, click.Option):
        names = ", ".join([*p.opts, *p.secondary_opts])
        flag = p.is_flag or p.count
        head = names if flag else f"{names} {_metavar(p)}"
        default = p.default
        if p.show_default is not False and not flag and default not in (None, "", ()) and not callable(default):
            extras.append(f"default: {default}")
    else:
        head = p.human_readable_name
    if p.required:
        extras.append("required")
    text = getattr(p, "help", None) or argument_help.get(p.name or "", "")
    if extras:
        text = f"{text}  [{'; '.join(extras)}]".strip()
    return head, text


def _sections(params: list[click.Parameter], argument_help: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
    for p in params:
        record = _record(p, argument_help)
        if record is not None:
            default_title = "Options" if isinstance(p, click.Option) else "Arguments"
            sections.setdefault(getattr(p, "rich_help_panel", None) or default_title, []).append(record)
    return sections


def _write(sections: dict[str, list[tuple[str, str]]], formatter: click.HelpFormatter) -> None:
    for title, rows in sections.items():
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)


class PanelCommand(TyperCommand):
    """A command whose help lists its options by family, in plain text.

    ``argument_help``: each argument's help, kept here because click 8.4 and later reset the help
    typer 0.20 gives its arguments (`for_command` makes a subclass that holds them).
    """

    argument_help: dict[str, str] = {}  # noqa: RUF012 (set once per subclass, never mutated)

    @classmethod
    def for_command(cls, argument_help: dict[str, str]) -> type[PanelCommand]:
        return type(cls.__name__, (cls,), {"argument_help": argument_help})

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        click.Command.format_help(self, ctx, formatter)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _write(_sections(self.get_params(ctx), self.argument_help), formatter)


class PanelGroup(TyperGroup):
    """The top level: its options, then its commands with their summaries, in plain text."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        click.Group.format_help(self, ctx, formatter)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _write(_sections(self.get_params(ctx), {}), formatter)
        self.format_commands(ctx, formatter)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order they were added: by job, not alphabetically
