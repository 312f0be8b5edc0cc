"""The README's "Command line" list and the click command tree agree, both ways.

The list is the first `sh` code block of the README's "## Command line"
section. Each line that is not a `#` comment reads

    watcher <command> [<subcommand>] [--flag] [--option VALUE] ... PLACEHOLDER…

and is compared with `watcher.cli.main.main`, inspected programmatically:
every command (leaf of the tree) is listed and every listed command exists;
a command's listed options are exactly its options (`--help` aside); flags
are listed without a value and options that take one with a value; and
positional placeholders match the command's arguments. Root options (such
as `--version`) are listed on a line of their own, `watcher --version`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from watcher.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_TOKEN = re.compile(r"\[[^\]]*\]|\S+")
_WORD = re.compile(r"^[a-z][a-z0-9-]*$")
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(…|\.\.\.)?$")


@dataclass(frozen=True)
class Synopsis:
    """One README line: the command path, its options (name -> has a value), placeholders."""

    path: tuple[str, ...]
    options: dict[str, bool]
    placeholders: tuple[str, ...]


def command_block(readme: str) -> str:
    """The first sh code block of the "## Command line" section."""
    _before, marker, after = readme.partition("\n## Command line\n")
    assert marker, 'README has no "## Command line" section'
    section = after.split("\n## ", 1)[0]
    found = re.search(r"^(`{2,})sh\n(.*?)\n\1$", section, re.DOTALL | re.MULTILINE)
    assert found, 'no sh code block in "## Command line"'
    return found.group(2)


def parse_line(line: str) -> Synopsis:
    """A synopsis line's command path, options and placeholders; AssertionError if malformed."""
    tokens = _TOKEN.findall(line.split(" #", 1)[0])  # a trailing comment is not synopsis
    assert tokens[0] == "watcher", line
    path: list[str] = []
    rest = tokens[1:]
    while rest and _WORD.match(rest[0]):
        path.append(rest.pop(0))
    options: dict[str, bool] = {}
    placeholders: list[str] = []
    while rest:
        token = rest.pop(0)
        if token.startswith("--") and rest and _PLACEHOLDER.match(rest[0]):
            token = f"{token} {rest.pop(0)}"  # a required option: `--corpus DIR`
        if token.startswith("[") or token.startswith("--"):
            name, *value = token.strip("[]").split()
            assert name.startswith("--"), (line, token)
            assert len(value) <= 1, (line, token)
            assert name not in options, (line, name)
            options[name] = bool(value)
        else:
            assert _PLACEHOLDER.match(token), (line, token)
            placeholders.append(token)
    return Synopsis(tuple(path), options, tuple(placeholders))


def readme_synopses(readme: str) -> dict[tuple[str, ...], Synopsis]:
    lines = [ln.strip() for ln in command_block(readme).splitlines()]
    parsed = [parse_line(ln) for ln in lines if ln and not ln.startswith("#")]
    by_path = {s.path: s for s in parsed}
    assert len(by_path) == len(parsed), "a command is listed twice"
    return by_path


def cli_commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], click.Command]:
    """Every command in the tree: the leaves, plus any group that has options of its own."""
    found: dict[tuple[str, ...], click.Command] = {}
    if _options(group):
        found[prefix] = group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.update(cli_commands(command, (*prefix, name)))
        else:
            found[(*prefix, name)] = command
    return found


def _options(command: click.Command) -> dict[str, bool]:
    """Long option name -> whether it takes a value (the help option left out)."""
    found = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for name in param.opts + param.secondary_opts:
                if name.startswith("--"):
                    found[name] = not param.is_flag
    return found


def _arguments(command: click.Command) -> list[click.Argument]:
    return [p for p in command.params if isinstance(p, click.Argument)]


CLI_COMMANDS = cli_commands(main)


@cache
def readme() -> dict[tuple[str, ...], Synopsis]:
    """The README's list, parsed (inside the tests, so a malformed line fails one of them)."""
    return readme_synopses(README.read_text(encoding="utf-8"))


def _name(path: tuple[str, ...]) -> str:
    return " ".join(("watcher", *path))


def test_readme_lists_exactly_the_cli_commands() -> None:
    """Every command of the tree is in the README list, and every listed command exists."""
    assert len(CLI_COMMANDS) >= 10
    missing = sorted(_name(p) for p in set(CLI_COMMANDS) - set(readme()))
    unknown = sorted(_name(p) for p in set(readme()) - set(CLI_COMMANDS))
    assert (missing, unknown) == ([], [])


def test_top_level_help_lists_the_readme_commands() -> None:
    """`watcher --help` names exactly the top-level commands the README lists."""
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("\nCommands:\n", 1)[1]
    in_help = {line.split()[0] for line in listed.splitlines() if line.strip()}
    assert in_help == {path[0] for path in readme() if path}


@pytest.mark.parametrize("path", sorted(CLI_COMMANDS), ids=_name)
def test_readme_lists_each_commands_options_as_they_are(path: tuple[str, ...]) -> None:
    """A command's README line has exactly its options, flags bare, values with a value."""
    synopsis = readme().get(path)
    assert synopsis is not None, f"{_name(path)} is not in the README"
    assert synopsis.options == _options(CLI_COMMANDS[path]), _name(path)


@pytest.mark.parametrize("path", sorted(CLI_COMMANDS), ids=_name)
def test_readme_placeholders_match_the_arguments(path: tuple[str, ...]) -> None:
    """One placeholder per positional argument; `…` exactly where it takes several."""
    synopsis = readme().get(path)
    assert synopsis is not None, f"{_name(path)} is not in the README"
    arguments = _arguments(CLI_COMMANDS[path])
    assert len(synopsis.placeholders) == len(arguments), _name(path)
    for placeholder, argument in zip(synopsis.placeholders, arguments, strict=True):
        assert placeholder.endswith(("…", "...")) == (argument.nargs == -1), _name(path)


@pytest.mark.parametrize("path", sorted(p for p in CLI_COMMANDS if p), ids=_name)
def test_every_command_help_has_an_example(path: tuple[str, ...]) -> None:
    """As the README says: `--help` of every command shows an example."""
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert f"watcher {' '.join(path)}" in result.output.split("Example:", 1)[1]


def test_the_parser_rejects_what_it_cannot_read() -> None:
    """A malformed line fails loudly instead of being skipped (so drift cannot hide)."""
    assert parse_line("watcher rules test [--json] DIR").placeholders == ("DIR",)
    assert parse_line("watcher --version").options == {"--version": False}
    for bad in ("watcher run [-o]", "watcher run lower_case_arg!", "watcher run [--a B C]"):
        with pytest.raises(AssertionError):
            parse_line(bad)
    with pytest.raises(AssertionError, match="listed twice"):
        readme_synopses("x\n## Command line\n\n``sh\nwatcher demo\nwatcher demo\n``\n")
