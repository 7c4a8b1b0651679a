"""``faastrain --help``: every option says what it does and its default; every policy is listed."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from faastrain_async.cli.main import build_parser
from faastrain_async.policies import POLICIES


def commands(parser: argparse.ArgumentParser, path: str = "faastrain") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}")


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_option_has_help_and_shows_its_default() -> None:
    seen = 0
    for path, parser in commands(build_parser()):
        text = flat(parser.format_help())
        for action in parser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            seen += 1
            assert action.help, f"{path} {action.option_strings[0]} has no help"
            default = action.default
            if default is not None and default is not False and default != []:
                shown = " ".join(map(str, default)) if isinstance(default, list) else str(default)
                assert f"(default: {shown})" in text, f"{path} {action.option_strings[0]}: default {shown!r} not shown"
    assert seen > 60


@pytest.mark.parametrize("command", ["run", "evaluate"])
def test_the_policy_options_list_every_policy(command: str) -> None:
    parser = dict(commands(build_parser()))[f"faastrain {command}"]
    text = flat(parser.format_help())
    assert all(name in text for name in POLICIES), text


def test_environment_options_tell_the_environment_default_and_the_preset() -> None:
    text = flat(dict(commands(build_parser()))["faastrain run"].format_help())
    assert "--max-replicas MAX_REPLICAS most replicas (default: 10, or the preset's)" in text
    assert "--preset {faastraingym,drescale}" in text
