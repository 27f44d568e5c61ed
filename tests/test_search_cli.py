"""The command line of the search: its flags generated from SearchConfig (one definition of names, types, defaults
and help), the options generator itself, and llm_reward's commands reaching ``rewardlab`` through the plugin list
without ``rewardlab`` importing ``llm_reward``."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import types
from dataclasses import dataclass, fields

import pytest

from llm_reward.cli import SEARCH_FLAGS
from llm_reward.search import ReplayConfig, SearchConfig
from rewardlab.cli import Command, build_parser, main
from rewardlab.cli import app as cli_app
from rewardlab.cli.options import add_options, comma_list, from_options, option, option_fields


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_search_flag_defaults_are_the_configs_defaults() -> None:
    assert from_options(SearchConfig, _parse("search", "--task", "CartPole-v1")) == SearchConfig(task="CartPole-v1")
    rc = from_options(ReplayConfig, _parse("replay", "some/dir"))
    assert rc == ReplayConfig(search_dir="some/dir")


def test_search_flags_parse_into_the_config() -> None:
    args = _parse(
        "search",
        "--task",
        "T",
        "--api-key-env",
        "",
        "--baselines",
        "",
        "--hp",
        "a=1",
        "--hp",
        "b=2",
        "--no-retrain-iteration-bests",
        "--notes",
        "be kind",
        "--ranker",
        "human",
        "--videos",
        "--steps",
        "100",
        "--budget-usd",
        "0.5",
        "--workers",
        "3",
        "--runs-dir",
        "elsewhere",
    )
    cfg = from_options(SearchConfig, args)
    assert cfg == SearchConfig(
        task="T",
        api_key_env=None,
        baselines=(),
        hp=("a=1", "b=2"),
        retrain_iteration_bests=False,
        human_notes="be kind",
        ranker="human",
        videos=True,
        steps=100,
        budget_usd=0.5,
        workers=3,
    )
    assert args.runs_dir == "elsewhere"
    assert from_options(SearchConfig, _parse("search", "--task", "T", "--baselines", "env,hand")).baselines == (
        "env",
        "hand",
    )


def test_every_option_field_is_a_flag_and_the_others_are_not(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = capsys.readouterr().out
    opts = option_fields(SearchConfig)
    assert sorted(SEARCH_FLAGS) == sorted(opts)
    for name, (_, opt, _) in opts.items():
        assert (opt.flag or "--" + name.replace("_", "-")) in text, name
    python_only = {f.name for f in fields(SearchConfig)} - set(opts)
    assert python_only == {"timeout_s", "n_transitions", "eval_episodes", "final_episodes", "fewshot_k"}
    for name in python_only:
        assert "--" + name.replace("_", "-") not in text


def test_bad_choices_are_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--selection", "best"], ["--sandbox", "none"], ["--backend", "claude"], ["--ranker", "robot"]):
        with pytest.raises(SystemExit):
            _parse("search", "--task", "T", *argv)
        assert "invalid choice" in capsys.readouterr().err


@dataclass
class _Demo:
    path: str = option(positional=True, help="where")
    count: int = option(help="how many")
    scale: float | None = option(None)
    names: tuple[str, ...] = option(("a",), parse=comma_list)
    tag: tuple[str, ...] = option((), repeat=True, metavar="K=V")
    loud: bool = option(False, help="shout")
    pretty: bool = option(True, flag="--plain")
    label: str | None = option(None, flag="--title")
    hidden: int = 7


def test_the_generator_reads_types_defaults_and_flags_from_the_fields() -> None:
    p = argparse.ArgumentParser(prog="demo")
    add_options(p, _Demo)
    got = from_options(
        _Demo,
        p.parse_args(
            [
                "here",
                "--count",
                "2",
                "--scale",
                "1.5",
                "--names",
                "x,y",
                "--tag",
                "a=1",
                "--tag",
                "b=2",
                "--loud",
                "--plain",
                "--title",
                "T",
            ]
        ),
    )
    assert got == _Demo("here", 2, 1.5, ("x", "y"), ("a=1", "b=2"), True, False, "T")
    assert from_options(_Demo, p.parse_args(["there", "--count", "1"])) == _Demo("there", 1)
    text = p.format_help()
    assert "--title TITLE" in text and "--tag K=V" in text and "--plain" in text and "--hidden" not in text
    with pytest.raises(SystemExit):
        p.parse_args(["here"])  # --count has no default: required
    with pytest.raises(ValueError, match="missing"):
        add_options(argparse.ArgumentParser(), _Demo, order=["path", "count"])
    with pytest.raises(TypeError, match="one type"):

        @dataclass
        class Bad:
            x: int | str = option(1)

        add_options(argparse.ArgumentParser(), Bad)


def test_rewardlab_does_not_import_llm_reward_until_it_builds_its_parser() -> None:
    code = (
        "import sys, rewardlab, rewardlab.cli, rewardlab.rewards.registry; "
        "before = sorted(m for m in sys.modules if m.startswith('llm_reward')); "
        "rewardlab.cli.build_parser(); "
        "print(before, 'llm_reward.cli' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] True", out


def test_commands_come_from_the_plugin_list_in_help_order(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [c.name for c in cli_app.commands()]
    assert names == list(cli_app.HELP_ORDER)
    plugin = types.ModuleType("rewardlab_test_plugin")
    plugin.commands = lambda: [
        Command(
            "hello",
            "say hello",
            lambda p: p.add_argument("--who", default="you"),
            lambda a: print(f"hello {a.who}") or 0,
        )
    ]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rewardlab_test_plugin", plugin)
    monkeypatch.setattr(cli_app, "PLUGINS", (*cli_app.PLUGINS, "rewardlab_test_plugin:commands"))
    assert [c.name for c in cli_app.commands()][-1] == "hello"  # not in HELP_ORDER: listed after the others
    assert main(["hello", "--who", "lab"]) == 0
    tasks = dataclasses.replace(cli_app.commands()[0])
    clash = types.ModuleType("rewardlab_test_clash")
    clash.commands = lambda: [tasks]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rewardlab_test_clash", clash)
    monkeypatch.setattr(cli_app, "PLUGINS", (*cli_app.PLUGINS, "rewardlab_test_clash:commands"))
    with pytest.raises(RuntimeError, match="registered twice"):
        build_parser()
