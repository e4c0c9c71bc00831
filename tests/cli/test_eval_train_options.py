"""`caic eval` and `caic train` spell the options they share alike: the same long and short flags, the same defaults,
and no flag meaning one thing in one command and another in the other."""

from __future__ import annotations

import enum

import typer.main

from cai_lang.cli.app import app

# Defaults that differ on purpose, with the reason: an evaluation measures on the held-out rows a training leaves out.
DIFFERENT_DEFAULTS = {"split": ("train", "eval")}
# Train's labeller may be an ensemble of feedback models; eval's one critic and judge is a single model.
REPEATABLE_IN_TRAIN_ONLY = {"feedback_model"}


def _commands():
    group = typer.main.get_command(app)
    return group.commands["train"], group.commands["eval"]


def _options(command) -> dict:
    return {p.name: p for p in command.params if p.param_type_name == "option"}


def _plain(value):
    return value.value if isinstance(value, enum.Enum) else value


def test_shared_options_have_the_same_flags_and_defaults():
    train, evaluate = (_options(c) for c in _commands())
    shared = sorted(set(train) & set(evaluate))
    # The options both commands must have (the list), so the comparison below cannot pass on an empty set.
    assert {"config", "model", "output", "feedback_model", "deployment", "prompts", "max_prompts", "seed", "dialect",
            "max_new_tokens", "temperature", "top_p", "batch_size", "device", "long_prompts", "report_to", "split"} <= set(shared)
    for name in shared:
        a, b = train[name], evaluate[name]
        assert sorted(a.opts + a.secondary_opts) == sorted(b.opts + b.secondary_opts), name
        assert a.is_flag == b.is_flag, name
        assert a.multiple == b.multiple or (name in REPEATABLE_IN_TRAIN_ONLY and a.multiple), name
        defaults = (_plain(a.default), _plain(b.default))
        assert defaults == DIFFERENT_DEFAULTS.get(name, (defaults[0], defaults[0])), (name, defaults)


def test_no_flag_names_different_options_in_the_two_commands():
    train, evaluate = _commands()

    def owners(command):
        return {flag: p.name for p in command.params for flag in (*p.opts, *p.secondary_opts)}

    by_train, by_eval = owners(train), owners(evaluate)
    clashes = {flag: (by_train[flag], by_eval[flag]) for flag in set(by_train) & set(by_eval) if by_train[flag] != by_eval[flag]}
    assert clashes == {}
