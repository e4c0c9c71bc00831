"""The files a run leaves for other tools: `sft.jsonl` and `preferences.jsonl`, which trl loads as written.

`sl_data.jsonl`, `rl_pairs.jsonl` and `rl_labels.jsonl` record how the data
was made; they are not what a trainer reads. This module turns them into the
two training files: `sft.jsonl`, one conversation per row in trl's
conversational `messages` format (the prompt's turns, then the final
revision as the assistant's turn), and `preferences.jsonl`, trl's
conversational `prompt` / `chosen` / `rejected` with the soft label
(`soft_label`, P(chosen better), at least 0.5) beside them. Both carry their
provenance (ids, content hash, models) in columns trl leaves alone, and no
string `prompt` column in `sft.jsonl`, which would make trl read the rows as
prompt/completion. It also owns normalising preference rows written the Hub's
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


def sft_rows(sl_rows: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """`sft.jsonl` rows from SL-CAI rows, and how many were left out and why (the trainer's own rule).

    Left out, as `sl.sft.training_pairs` leaves them out: an empty final
    response, and red-team rows no round revised.
    """
    rows: list[dict[str, Any]] = []
    dropped = {"empty_response": 0, "unrevised_red_team": 0}
    for row in sl_rows:
        final = (row.get("final_response") or "").strip()
        if not final:
            dropped["empty_response"] += 1
            continue
        if row.get("kind") == "red_team" and not any(r.get("revision") for r in row.get("rounds") or ()):
            dropped["unrevised_red_team"] += 1
            continue
        messages = [*sl_conversation(row), {"role": "assistant", "content": final}]
        rows.append({"messages": messages, **{key: row.get(key) for key in _SFT_PROVENANCE}})
    return rows, dropped


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
