"""Response pairs for RLAIF: two sampled responses per prompt from the policy.

The preference data of the RL phase starts here: for every prompt the policy
(by default the SL-CAI model) samples two responses, and each pair records
the policy that wrote it and the exact sampling settings, so a label can be
traced back to how its responses were made. The two sides are sampled in
two `generate` calls with different seeds: a server samples each request on
its own, and one seed twice gives one text twice (vLLM). Greedy settings are
refused: they would make both responses identical and every label a tie.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

from cai_lang.engine.base import GenerationBackend, SamplingParams
from cai_lang.train.thinking import strip_thinking

DEFAULT_PAIR_SAMPLING = SamplingParams(max_new_tokens=128, temperature=1.0, top_p=0.95, seed=0)


def prompt_conversation(record: Mapping) -> list[dict[str, str]]:
    """The conversation a prompt record stands for: its `conversation`/`messages`, or its `prompt` as one user turn."""
    for key in ("conversation", "messages"):
        if record.get(key):
            return [{"role": str(m["role"]), "content": str(m["content"])} for m in record[key]]
    prompt = record.get("prompt")
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, list):
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
    raise ValueError(f"prompt record {record.get('id', '?')!r} has no `prompt`, `conversation` or `messages`")


def sampling_record(params: SamplingParams) -> dict:
    """The sampling settings as plain JSON."""
    values = dataclasses.asdict(params)
    values["stop"] = list(params.stop)
    values.pop("request_seeds", None)  # per request, recorded on each row
    return values


def sample_pairs(
    policy: GenerationBackend,
    prompts: Iterable[Mapping],
    params: SamplingParams = DEFAULT_PAIR_SAMPLING,
    *,
    policy_name: str | None = None,
) -> list[dict]:
    """Two responses per prompt record (`id`, `prompt` or `conversation`, optional `context`).

    Returns one dict per prompt: `id` (the prompt's id), `conversation`,
    `context`, `response_a`, `response_b`, `policy` and `sampling`, ready to be
    written as JSONL and passed to `cai_lang.train.rl.aggregate.label_pairs`.
    """
    if params.greedy:
        raise ValueError("pair sampling needs sampling (temperature > 0, do_sample=True): greedy decoding gives two identical responses")
    records = list(prompts)
    conversations = [prompt_conversation(record) for record in records]
    params_b = dataclasses.replace(params, seed=None if params.seed is None else params.seed + 1)
    side_a = policy.generate(conversations, params)
    side_b = policy.generate(conversations, params_b)
    # The labeller judges answers: a reasoning model's thinking block is not part of one.
    responses = [strip_thinking(text) for pair in zip(side_a, side_b) for text in pair]
    sampling = sampling_record(params)
    name = policy_name or getattr(policy, "model_id", type(policy).__name__)
    pairs = []
    for i, (record, conversation) in enumerate(zip(records, conversations)):
        pairs.append(
            {
                "id": str(record.get("id", i)),
                "conversation": conversation,
                "context": dict(record.get("context") or {}),
                "response_a": responses[2 * i],
                "response_b": responses[2 * i + 1],
                "policy": name,
                "sampling": sampling,
                "seed_b": params_b.seed,
            }
        )
    return pairs
