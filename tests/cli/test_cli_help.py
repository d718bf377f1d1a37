"""``pluginmgr --help`` and ``--version`` load no command module, and say what loading them
would: the summaries of the table are the commands' own first sentences, shown whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
def test_help_lists_every_command_with_its_whole_summary_at_any_width(width: int) -> None:
    ctx = click.Context(cli, terminal_width=width, max_content_width=width)
    formatter = ctx.make_formatter()
    cli.format_commands(ctx, formatter)
    shown = formatter.getvalue()
    assert all(len(line) <= max(width, 80) for line in shown.splitlines())
    words = " ".join(shown.split())  # the summaries wrap over lines
    for name, summary in _SUMMARIES.items():
        assert f" {name} {' '.join(summary.split())}" in f" {words}", name
    assert "..." not in shown
    assert "  enable    Enable a trigger.\n" in shown


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


def test_every_command_group_lists_whole_first_sentences() -> None:
    ctx = click.Context(cli, terminal_width=80, max_content_width=80)
    groups = [
        (name, command)
        for name in _COMMANDS
        if isinstance(command := cli.get_command(ctx, name), click.Group)
    ]
    assert len(groups) >= 8
    for name, group in groups:
        sub = click.Context(group, info_name=name, parent=ctx, terminal_width=80)
        formatter = sub.make_formatter()
        group.format_commands(sub, formatter)
        words = " ".join(formatter.getvalue().split())
        for child in group.list_commands(sub):
            summary = group.get_command(sub, child).get_short_help_str(limit=10**6)  # type: ignore[union-attr]
            assert f"{child} {' '.join(summary.split())}" in words, (name, child)


def _leaves(group: click.Group, ctx: click.Context, path: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        full = f"{path} {name}".strip()
        if isinstance(command, click.Group):
            found |= _leaves(command, ctx, full)
        else:
            found[full] = command
    return found


def test_every_command_has_examples_that_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command's ``--help`` ends with its examples, and each example is a valid command
    line for it: its options exist and take the values given (nothing is run; the files and
    directories the examples name exist, in a scratch directory)."""
    import shlex

    monkeypatch.chdir(tmp_path)
    for directory in ("registry", "mirror", "wheels", "plugins-repo"):
        (tmp_path / directory).mkdir()
    for name in ("requirements.txt", "batch.lp", "hook.py", "report.py", "alerts.py"):
        (tmp_path / name).write_text("")

    from pluginmgr.cli._examples import EXAMPLES

    ctx = click.Context(cli)
    leaves = _leaves(cli, ctx)
    assert sorted(EXAMPLES) == sorted(leaves)
    for path, command in leaves.items():
        assert command.epilog is not None and command.epilog.startswith("Examples:"), path
        for line in EXAMPLES[path]:
            words = shlex.split(line)
            assert words[0] == "pluginmgr" and " ".join(words[1:]).startswith(path), line
            args = words[1 + len(path.split()) :]
            command.make_context(path, args)  # raises click.UsageError on a bad option
        # one command under two paths (`why`, `deps why`) shows the examples of one of them
        shown = command.get_help(click.Context(command, info_name=path, terminal_width=80))
        examples = shown[shown.index("Examples:") :]
        assert all(len(line) <= 80 for line in examples.splitlines()), examples
        flat = " ".join(examples.replace("\\\n", " ").split())  # continuation lines joined
        same = [other for other, each in leaves.items() if each is command]
        assert any(flat.endswith(" ".join(EXAMPLES[other][-1].split())) for other in same), path
