"""A command as data: its parameters (`Param`), its function and summary (`Command`).

A command module declares its commands with these; ``app`` builds the argparse parser from
them, and the README's usage block is generated from the same declarations.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Param:
    """One positional argument (``flags`` is its name) or option (``--long``, ``-short``)."""

    flags: tuple[str, ...]
    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    required: bool = False
    switch: bool = False  # a flag without a value: True when given
    choices: tuple[str, ...] | None = None
    many: bool = False  # one or more values (positionals only)
    optional: bool = False  # a positional that may be left out
    dest: str | None = None
    metavar: str | None = None

    @property
    def positional(self) -> bool:
        return not self.flags[0].startswith("-")

    @property
    def name(self) -> str:
        """The keyword the command function receives."""
        if self.dest:
            return self.dest
        long = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return long.lstrip("-").replace("-", "_")

    @property
    def long(self) -> str:
        return next((f for f in self.flags if f.startswith("--")), self.flags[0])

    def __call__(self, **changes: Any) -> Param:
        """This parameter with another default, help or requirement (same flags)."""
        return replace(self, **changes)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        shown = self.help
        if self.default not in (None, False, ()) and not self.positional:
            shown += f" [default: {self.default}]"
        shown = shown.replace("%", "%%")  # argparse %-formats help texts: a literal percent sign doubles
        if self.positional:
            nargs = "+" if self.many else "?" if self.optional else None
            parser.add_argument(
                self.name, help=shown, type=self.type, nargs=nargs, metavar=self.metavar or self.name.upper()
            )
        elif self.switch:
            parser.add_argument(*self.flags, help=shown, action="store_true", dest=self.name)
        else:
            parser.add_argument(
                *self.flags, help=shown, type=self.type, default=self.default, required=self.required,
                choices=self.choices, dest=self.name, metavar=self.metavar,
            )  # fmt: skip


def option(*flags: str, help: str, **kw: Any) -> Param:
    return Param(flags, help, **kw)


def switch(*flags: str, help: str) -> Param:
    return Param(flags, help, switch=True, default=False)


def argument(name: str, help: str, **kw: Any) -> Param:
    return Param((name,), help, **kw)


@dataclass(frozen=True, slots=True)
class Group:
    """Parameters a command receives as one value: ``build(**their values)`` becomes ``name``."""

    name: str
    params: tuple[Param, ...]
    build: Callable[..., Any]

    def with_params(self, *extra: Param) -> Group:
        """The same group with more parameters (``build`` must accept them)."""
        return replace(self, params=(*self.params, *extra))


@dataclass(frozen=True, slots=True)
class Command:
    """A command: its name, the function that runs it, its one-line summary, its parameters."""

    name: str
    run: Callable[..., int | None]
    summary: str
    params: tuple[Param | Group, ...]

    @property
    def flat_params(self) -> list[Param]:
        """Every parameter, groups opened, in declaration order."""
        return [q for p in self.params for q in (p.params if isinstance(p, Group) else (p,))]

    def call(self, values: dict[str, Any]) -> int | None:
        """Run the command with the parsed ``values``, each group built into its one value."""
        kwargs = dict(values)
        for group in (p for p in self.params if isinstance(p, Group)):
            kwargs[group.name] = group.build(**{q.name: kwargs.pop(q.name) for q in group.params})
        return self.run(**kwargs)


class CommandFailed(Exception):
    """Raised by a command that ran to the end but must exit with ``code`` (verify's failed check)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code
