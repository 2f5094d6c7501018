"""``colorgrade train NETWORK`` offers exactly the options its network uses, with the trainer's own defaults."""
import dataclasses

import pytest

from colorgrade.cli import build_parser
from colorgrade.models.options import AnalysisOptions, GeneratorOptions, from_arguments

CASES = [("analysis", AnalysisOptions, ["--learning-rate", "0.01", "--width", "16", "--composite-share", "0.5"],
          {"learning_rate": 0.01, "width": 16, "composite_share": 0.5}),
         ("generator", GeneratorOptions, ["--learning-rate", "0.001", "--base", "8", "--temporal", "--window", "3"],
          {"learning_rate": 0.001, "base": 8, "temporal": True, "window": 3})]


@pytest.mark.parametrize("network, options_class, argv, expected", CASES)
def test_every_flag_reaches_the_trainer(network, options_class, argv, expected):
    options = from_arguments(options_class, build_parser(["train"]).parse_args(["train", network, *argv]))
    assert {name: getattr(options, name) for name in expected} == expected


@pytest.mark.parametrize("network, options_class", [(c[0], c[1]) for c in CASES])
def test_defaults_are_the_trainers_own(network, options_class):
    assert from_arguments(options_class, build_parser(["train"]).parse_args(["train", network])) == options_class()


@pytest.mark.parametrize("network, foreign", [("generator", "--composite-share"), ("generator", "--dropout"),
                                              ("analysis", "--temporal"), ("analysis", "--l2-weight")])
def test_an_option_the_network_does_not_use_is_refused(network, foreign, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser(["train"]).parse_args(["train", network, foreign, "1"] if foreign != "--temporal" else
                                  ["train", network, foreign])
    assert exit_info.value.code == 2 and foreign in capsys.readouterr().err


def test_every_option_has_a_flag_and_help():
    for options_class, network in ((AnalysisOptions, "analysis"), (GeneratorOptions, "generator")):
        subparsers = build_parser(["train"])._subparsers._group_actions[0].choices["train"]._subparsers._group_actions[0]
        flags = {action.dest for action in subparsers.choices[network]._actions}
        assert {f.name for f in dataclasses.fields(options_class)} <= flags
        assert all(f.metadata.get("help") for f in dataclasses.fields(options_class))
