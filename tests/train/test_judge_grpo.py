"""A trl GRPO run on the tiny model whose reward is caic's `reward_funcs` callable, through the reward server.

This is how a trl user outside `caic train` would use the constitution: a
plain `trl.GRPOTrainer`, with `remote_reward_function(url)` in
`reward_funcs`, and `caic serve reward` (here on a thread, on 127.0.0.1)
judging each prompt's group of completions with the tiny model as feedback
model. The tiny model is random: the run shows the plumbing works and the
rewards trl logs are the server's, not that the policy learns anything.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from rl_testkit import compile_test_bundle

from cai_lang.judge import Judge
from cai_lang.judge.clients import remote_reward_function
from cai_lang.judge.server import ServerThread
from cai_lang.train.rl.aggregate import Aggregator
from cai_lang.train.rl.labeller import ComparisonLabeller

PROMPTS = [
    {"prompt": [{"role": "user", "content": f"Question {i}: how should I store kitchen knives?"}],
     "context": json.dumps({"risk": "low", "fiction": False})}
    for i in range(4)
]


@pytest.mark.slow
def test_trl_grpo_trains_with_the_constitution_reward_from_the_server(tiny_model, tmp_path):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from cai_lang.engine.local import LocalBackend

    bundle = compile_test_bundle(tmp_path)
    backend = LocalBackend(str(tiny_model), device="cpu")
    judge = Judge(bundle, ComparisonLabeller.from_backends(bundle, backend), Aggregator(bundle, "priority"), opened=[backend])
    seen: list[list[float | None]] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with judge, ServerThread(judge) as url:
            remote = remote_reward_function(url, on_failure="raise")

            def constitution(prompts, completions, **columns):
                rewards = remote(prompts, completions, **columns)
                seen.append(rewards)
                return rewards

            args = GRPOConfig(output_dir=str(tmp_path / "grpo"), max_steps=2, per_device_train_batch_size=4, num_generations=2,
                              max_completion_length=8, logging_steps=1, report_to=[], use_cpu=True, save_strategy="no",
                              scale_rewards="none", seed=0)
            trainer = GRPOTrainer(model=str(tiny_model), reward_funcs=[constitution], args=args,
                                  train_dataset=Dataset.from_list(PROMPTS))
            trainer.train()
            stats = json.loads(urllib.request.urlopen(url + "/stats", timeout=30).read())
    finally:
        torch.set_num_threads(threads)
    assert seen and all(r is not None and 0.0 <= r <= 1.0 for batch in seen for r in batch)
    # Each group of two is compared once, so the two rewards of a group sum to 1.
    assert all(batch[i] + batch[i + 1] == pytest.approx(1.0) for batch in seen for i in range(0, len(batch), 2))
    assert stats["responses"] == sum(len(batch) for batch in seen) and stats["failed"] == 0
    logged = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert logged and all(entry["reward"] == pytest.approx(0.5) for entry in logged)
