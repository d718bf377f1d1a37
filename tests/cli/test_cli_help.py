"""``pluginmgr --help`` and ``--version`` load no command module, and say what loading them
would: the short helps of the table are the commands' own docstrings, shortened as click does."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from pluginmgr.cli import _COMMANDS, _SUMMARIES, cli

_LOADED = (
    "import sys; from pluginmgr.cli import main; code = main([{arg!r}]); "
    "print(sorted(m for m in sys.modules if m.startswith(('pluginmgr.', 'engine_runtime', "
    "'httpx', 'rich', 'packaging', 'importlib.metadata')) and m != 'pluginmgr.cli'))"
)


def test_the_summaries_are_the_commands_own_first_sentences() -> None:
    ctx = click.Context(cli)
    assert sorted(_SUMMARIES) == sorted(_COMMANDS)
    for name in _COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None and not command.hidden and not command.deprecated
        assert _SUMMARIES[name] == command.get_short_help_str(limit=10**6), name


@pytest.mark.parametrize("width", [50, 80, 200])
def test_help_lists_what_the_commands_would_say_at_any_width(width: int) -> None:
    def render(lazy: bool) -> str:
        ctx = click.Context(cli, terminal_width=width, max_content_width=width)
        formatter = ctx.make_formatter()
        if lazy:
            cli.format_commands(ctx, formatter)
        else:  # click's own: load every command and ask it
            click.Group.format_commands(cli, ctx, formatter)
        return formatter.getvalue()

    assert render(lazy=True) == render(lazy=False)
    assert "  delete    Delete a trigger.\n" in render(lazy=True)


@pytest.mark.parametrize("arg", ["--help", "--version"])
def test_help_and_version_import_no_command_module(arg: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LOADED.format(arg=arg)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    *shown, loaded = done.stdout.splitlines()
    assert loaded == "[]"
    if arg == "--version":
        from importlib.metadata import version

        assert shown == [f"pluginmgr, version {version('pluginmgr')}"]
    else:
        assert "Commands:" in shown
