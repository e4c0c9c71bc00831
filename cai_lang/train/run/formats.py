"""The files a run leaves for other tools: `sft.jsonl` and `preferences.jsonl`, which trl loads as written.

`sl_data.jsonl`, `rl_pairs.jsonl` and `rl_labels.jsonl` record how the data
was made; they are not what a trainer reads. This module turns them into the
two training files: `sft.jsonl`, trl's conversational prompt/completion
(the whole conversation as `prompt`, the revision as `completion`, so the
loss falls on the revision alone; the rows caic's own fine-tuning trains
on, `--sft-targets` included), and `preferences.jsonl`, trl's
conversational `prompt` / `chosen` / `rejected` with the soft label
(`soft_label`, P(chosen better), at least 0.5) beside them. Both carry their
provenance (ids, content hash, models) in columns trl leaves alone. It also owns normalising preference rows written the Hub's
way (Anthropic HH: `chosen` holds the whole conversation, the user turns
too), so a prompt is never shown twice. Nothing here imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from cai_lang.files import write_atomic

SFT_FILE = "sft.jsonl"
PREFERENCES_FILE = "preferences.jsonl"
# The SL rows' provenance that travels into sft.jsonl.
_SFT_PROVENANCE = ("id", "kind", "split", "content_hash", "constitution", "deployment", "model", "critic_model", "principles")


def sl_conversation(row: Mapping[str, Any]) -> list[dict[str, str]]:
    """The turns a SL row answered: its `conversation` when it has one, else its `prompt` as one user turn."""
    turns = row.get("conversation")
    if turns:
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in turns]
    return [{"role": "user", "content": str(row["prompt"])}]


def sft_rows(
    sl_rows: Iterable[Mapping[str, Any]], targets: str = "final", *, keep_unchanged: bool = False
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """SFT rows from SL-CAI rows, and how many SL rows were left out and why: the one rule `sft.jsonl` and
    caic's own fine-tuning share.

    Each row is trl's conversational prompt/completion: `prompt` is the whole
    conversation the revision answers (every earlier turn, ending with the
    user's), `completion` the revision as one assistant turn, so the loss
    falls on the revision only. `targets="final"` gives one row per SL row
    (its final response); `"all"` one row per round that wrote a non-empty
    revision, in round order, as the paper's SL-CAI trains on every round.
    Left out: an empty final response, and red-team rows no round revised
    (their final response is the unrevised sample), unless `keep_unchanged`
    (the critique found nothing to fix, so the sample itself is the target).
    Thinking blocks are stripped from every target. `id` names the SL row,
    with `#round-N` added for a round's revision under `all`.
    """
    from cai_lang.train.thinking import strip_thinking

    rows: list[dict[str, Any]] = []
    dropped = {"empty_response": 0, "unrevised_red_team": 0}
    for row in sl_rows:
        provenance = {key: row.get(key) for key in _SFT_PROVENANCE}
        prompt = sl_conversation(row)

        def add(target: str, row_id: str, round_index: int | None) -> None:
            rows.append({"prompt": prompt, "completion": [{"role": "assistant", "content": target}],
                         **provenance, "id": row_id, "round": round_index})

        revisions = [(n, strip_thinking(r.get("revision") or "")) for n, r in enumerate(row.get("rounds") or ())]
        revisions = [(n, text) for n, text in revisions if text]
        if targets == "all" and row.get("kind") == "red_team" and revisions:
            for n, text in revisions:
                add(text, f"{row.get('id')}#round-{n + 1}", n)
            continue
        final = strip_thinking(row.get("final_response") or "")
        if not final:
            dropped["empty_response"] += 1
            continue
        if row.get("kind") == "red_team" and not revisions and not keep_unchanged:
            dropped["unrevised_red_team"] += 1
            continue
        add(final, str(row.get("id")), None)
    return rows, dropped


def revision_preference_rows(sl_rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`revision_preferences.jsonl` rows: for each red-team SL row a round revised, the final revision as
    `chosen` over the initial response as `rejected`, the whole conversation as `prompt` (trl's conversational
    preference format, as the Hugging Face constitutional-AI recipe builds its `train_prefs`). Rows whose
    revision equals the initial response, or is empty, give no pair. Thinking blocks are stripped."""
    from cai_lang.train.thinking import strip_thinking

    rows = []
    for row in sl_rows:
        if row.get("kind") != "red_team" or not any(r.get("revision") for r in row.get("rounds") or ()):
            continue
        chosen, rejected = strip_thinking(row.get("final_response") or ""), strip_thinking(row.get("initial_response") or "")
        if not chosen or not rejected or chosen == rejected:
            continue
        rows.append({"prompt": sl_conversation(row), "chosen": [{"role": "assistant", "content": chosen}],
                     "rejected": [{"role": "assistant", "content": rejected}],
                     **{key: row.get(key) for key in _SFT_PROVENANCE}})
    return rows


def preference_file_rows(
    pairs: Iterable[Mapping[str, Any]], labels: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """`preferences.jsonl` rows: each labelled pair oriented so `chosen` is preferred, with its provenance.

    A pair without a label is left out (an unfinished run); ties (0.5) are
    kept with their label, for the trainer to skip or not.
    """
    by_id = {str(label.get("pair_id", label.get("id"))): label for label in labels}
    rows = []
    for pair in pairs:
        label = by_id.get(str(pair["id"]))
        if label is None:
            continue
        p = float(label["p_a"])
        a, b = pair["response_a"], pair["response_b"]
        chosen, rejected, q = (a, b, p) if p >= 0.5 else (b, a, 1.0 - p)
        rows.append(
            {
                "prompt": [{"role": str(m["role"]), "content": str(m["content"])} for m in pair["conversation"]],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "soft_label": q,
                "id": str(pair["id"]),
                "chosen_is": "a" if p >= 0.5 else "b",
                "content_hash": pair.get("content_hash"),
                "policy": pair.get("policy"),
                "feedback_models": label.get("feedback_models"),
                "mode": label.get("mode"),
                "decided_by": label.get("decided_by"),
            }
        )
    return rows


def write_rows(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write JSONL whole through `write_atomic`, so a reader (or a full disk) never sees half a file; return the row count."""
    lines = [json.dumps(row, ensure_ascii=False) + "\n" for row in rows]
    write_atomic(Path(path), "".join(lines))
    return len(lines)


# ---------------------------------------------------------------- Hub-style preference rows


def normalise_preference(record: Mapping[str, Any], where: str) -> tuple[list[dict], list[dict], list[dict]]:
    """(prompt, chosen, rejected) as message lists, with the user turns only in the prompt.

    Accepts caic's form (a `prompt` and two replies), trl's conversational
    form, and the Hub's (Anthropic HH: no `prompt`, and `chosen`/`rejected`
    each the whole conversation, as message lists or as `Human:` /
    `Assistant:` transcripts): the turns both sides share become the
    prompt, and a `chosen` that repeats the prompt loses the repetition.
    """
    from cai_lang.train.run.conversation import as_messages

    chosen = as_messages(record.get("chosen"), "assistant", f"{where}: `chosen`")
    rejected = as_messages(record.get("rejected"), "assistant", f"{where}: `rejected`")
    if record.get("prompt") is None:
        shared = _shared_prefix(chosen, rejected)
        # The prompt ends with the last shared user turn; what follows it is each side's reply.
        while shared and shared[-1]["role"] != "user":
            shared = shared[:-1]
        if not shared:
            raise ValueError(f"{where}: no `prompt`, and `chosen` and `rejected` share no user turn to take it from")
        prompt = shared
    else:
        prompt = as_messages(record["prompt"], "user", f"{where}: `prompt`")
    chosen, rejected = _after(prompt, chosen), _after(prompt, rejected)
    if not chosen or not rejected:
        raise ValueError(f"{where}: `chosen` or `rejected` holds nothing after the prompt's turns")
    return prompt, chosen, rejected


def _shared_prefix(first: Sequence[dict], second: Sequence[dict]) -> list[dict]:
    shared = []
    for x, y in zip(first, second):
        if x != y:
            break
        shared.append(x)
    return shared


def _after(prompt: Sequence[dict], reply: list[dict]) -> list[dict]:
    if len(reply) > len(prompt) and reply[: len(prompt)] == list(prompt):
        return reply[len(prompt) :]
    return reply
