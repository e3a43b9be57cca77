"""What every `modelyard` command shares, in one place rather than in each command:

- environment problems (see web/problems.py) end the command with one sentence and the fix,
  exit status 1, instead of a traceback; `--debug` or MODELYARD_LOG_LEVEL=debug keeps the
  traceback;
- an option that may be given several times also takes several values after one flag, as a
  shell glob produces them (`--outcomes data/*.csv`), and a pattern the shell left alone is
  expanded here.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any, get_args

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from web.problems import explain

# typer has bundled its own copy of click's classes since 0.2x, so commands and options are
# recognised by what they carry (`commands`, `opts`, `multiple`), not by click's classes.
Command = Any
Option = Any

ENVIRONMENT_EXIT = 1
_NUMBER = re.compile(r"-\d+(\.\d*)?([eE][-+]?\d+)?$")


def _looks_like_option(token: str) -> bool:
    return token.startswith("-") and token != "-" and not _NUMBER.match(token)


def _subcommands(command: Command) -> Mapping[str, Command] | None:
    found = getattr(command, "commands", None)
    return found if isinstance(found, Mapping) else None


def _option_named(command: Command, token: str) -> Option | None:
    name = token.split("=", 1)[0]
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") != "option":
            continue
        if name in (*param.opts, *param.secondary_opts):
            return param
    return None


def _takes_value(option: Option | None, token: str) -> bool:
    """Whether the token after `token` is this option's value rather than a new token."""
    if option is None or option.is_flag or getattr(option, "count", False) or "=" in token:
        return False
    return token not in option.secondary_opts


def _is_path_annotation(annotation: Any) -> bool:
    """`Path`, `list[Path]`, `list[Path] | None`, …"""
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return True
    return any(_is_path_annotation(inner) for inner in get_args(annotation))


def _takes_paths(option: Option) -> bool:
    descriptor = getattr(option, "type_descriptor", None)  # typer's own parameters
    if descriptor is not None:
        return _is_path_annotation(getattr(descriptor, "annotation", None))
    return type(getattr(option, "type", None)).__name__ == "Path"  # click's


def _expand_pattern(option: Option, value: str) -> list[str]:
    """A glob the shell passed on unexpanded (quoted, or a shell that does not expand) for
    an option that takes paths; a name that exists as written is never a pattern."""
    if not _takes_paths(option) or not glob.has_magic(value):
        return [value]
    if os.path.exists(value):
        return [value]
    return sorted(glob.glob(value)) or [value]


def _leaf_command(root: Command, args: Sequence[str]) -> tuple[Command, int]:
    """The command `args` runs, and where its own arguments start."""
    command, index = root, 0
    while (subcommands := _subcommands(command)) is not None:
        while index < len(args) and _looks_like_option(args[index]) and args[index] != "--":
            token = args[index]
            index += 1
            if _takes_value(_option_named(command, token), token):
                index += 1
        if index >= len(args):
            return command, index
        sub = subcommands.get(args[index])
        if sub is None:
            return command, index
        command, index = sub, index + 1
    return command, index


def expand_list_options(root: Command, args: Sequence[str]) -> list[str]:
    """`--outcomes a.csv b.csv` becomes `--outcomes a.csv --outcomes b.csv` for options that
    may repeat; values run until the next option or `--`. As with argparse's nargs="+", a
    positional argument goes before such an option (or after `--`)."""
    command, start = _leaf_command(root, args)
    if _subcommands(command) is not None:
        return list(args)
    out = list(args[:start])
    index = start
    while index < len(args):
        token = args[index]
        index += 1
        if token == "--":
            out.extend(args[index - 1 :])
            break
        option = _option_named(command, token) if _looks_like_option(token) else None
        if option is None or not getattr(option, "multiple", False):
            out.append(token)
            if _takes_value(option, token) and index < len(args):
                out.append(args[index])
                index += 1
            continue
        if "=" in token:
            name, value = token.split("=", 1)
            values = [value]
        else:
            name, values = token, []
            if index < len(args):  # the first value may look like an option: it was asked for
                values.append(args[index])
                index += 1
        while index < len(args) and not _looks_like_option(args[index]) and args[index] != "--":
            values.append(args[index])
            index += 1
        for value in values:
            for expanded in _expand_pattern(option, value):
                out.extend([name, expanded])
    return out


def wants_traceback(ctx: typer.Context) -> bool:
    if ctx.params.get("debug"):
        return True
    return os.environ.get("MODELYARD_LOG_LEVEL", "").strip().lower() == "debug"


class ModelyardGroup(TyperGroup):
    """The root command group: list options expanded before parsing, environment problems
    turned into a sentence after. Usage errors, `typer.Exit` and bugs pass through as they
    are (`explain` recognises none of them)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_list_options(self, args))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            problem = explain(exc, getattr(ctx.obj, "settings", None))
            if problem is None or wants_traceback(ctx):
                raise
            Console(stderr=True, soft_wrap=True).print(
                f"[red]error:[/red] {escape(problem.sentence())}", highlight=False
            )
            raise typer.Exit(ENVIRONMENT_EXIT) from exc
