"""What every ``toolgym`` subcommand shares: the console, error exits, summary tables, option parsing."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from toolgym.agents.summary import RunSummary

console = Console()


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error; raise the returned Exit (code 2)."""
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


def print_summary(summary: RunSummary, title: str) -> None:
    table = Table(title=title, show_header=False)
    for label, value in summary.rows():
        table.add_row(label, value)
    console.print(table)


def parse_value(raw: str) -> Any:
    """A command-line value read as JSON when it parses (numbers, lists, true), else the string."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return tuple(value) if isinstance(value, list) else value


def parse_env_args(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs as constructor keyword arguments."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise fail(f"--env-arg takes key=value, got {pair!r}")
        kwargs[key.replace("-", "_")] = parse_value(raw)
    return kwargs


def parse_extra_options(args: list[str]) -> dict[str, Any]:
    """Options the command does not know (``--servers s.json``, ``--flag``) as env keyword arguments."""
    kwargs: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or len(token) < 3:
            raise fail(f"unexpected argument {token!r}")
        key, sep, raw = token[2:].partition("=")
        if not sep:
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                raw, i = args[i + 1], i + 1
            else:
                raw = "true"
        kwargs[key.replace("-", "_")] = parse_value(raw)
        i += 1
    return kwargs
