"""A run's data in the layouts verl and OpenRLHF read, with the bundle's content hash on every file.

From a run folder's `sft.jsonl` (SL), `preferences.jsonl` (labelled pairs)
and `rl_pairs.jsonl` (the RL prompts), whichever exist:

verl (parquet; the bundle hash and constitution in the schema metadata
under `caic_content_hash` / `caic_constitution`, and in each row's
`extra_info`):
- `sft.parquet`: `messages` (the conversation and its revised answer), `extra_info`;
- `preferences.parquet`: `prompt` (turns), `chosen`, `rejected` (text), `extra_info`;
- `rl_prompts.parquet`: verl's RL fields `data_source`, `prompt` (turns),
  `ability`, `reward_model` (`style: model`, `ground_truth`: the reference
  answer, the labeller's preferred response of the prompt's pair when it
  has one, else empty) and `extra_info` (`index`, `id`, `content_hash`, and
  `caic`: JSON of the conversation, context labels and reference, which
  `cai_lang/judge/verl_reward.py` reads).

OpenRLHF (jsonl; the hash in each row's `metadata`):
- `sft.jsonl`: `input` (the turns), `output` (the answer, one assistant message):
  `--data.input_key input --data.output_key output --data.apply_chat_template`;
- `preferences.jsonl`: `prompt` (turns), `chosen`, `rejected` (one assistant message each):
  `--data.prompt_key prompt --data.chosen_key chosen --data.rejected_key rejected --data.apply_chat_template`;
- `rl_prompts.jsonl`: `prompt` (turns) and `label` (JSON of the conversation,
  context labels and reference, which the reward server's `/openrlhf` reads):
  `--data.input_key prompt --data.label_key label --data.apply_chat_template`.

`manifest.json` lists the files written, their row counts and the hash.
Every row is written; a row made under another bundle is refused.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from cai_lang.files import write_atomic

ENGINES = ("verl", "openrlhf")


class ExportError(ValueError):
    """The run cannot be exported as asked; the message says why."""


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ExportError(f"{path}:{number}: not a JSON row ({err.msg})") from None
    return rows


def _checked(rows: list[dict], content_hash: str, path: Path) -> list[dict]:
    for number, row in enumerate(rows, 1):
        if row.get("content_hash") not in (None, content_hash):
            raise ExportError(f"{path}: row {number} was made under bundle {row['content_hash'][:12]}, not this run's {content_hash[:12]}")
    return rows


def run_content_hash(folder: Path) -> tuple[str, str]:
    """(content hash, constitution name) of the bundle the run recorded."""
    from cai_lang.codegen.bundle import load_bundle
    from cai_lang.train.run.record import RunRecord

    if not (folder / "run.json").is_file():
        raise ExportError(f"{folder} is not a caic run folder (no run.json)")
    path = RunRecord.open(folder).output_path("bundle")
    if path is None or not path.exists():
        raise ExportError(f"{folder} records no compiled bundle; run `caic train` or `caic generate` there first")
    bundle = load_bundle(path)
    return bundle.content_hash, bundle.constitution.name


def reference_answers(preferences: Iterable[Mapping]) -> dict[str, str]:
    """The labeller's preferred response per prompt id, from preference rows."""
    out = {}
    for row in preferences:
        chosen = row.get("chosen")
        text = chosen if isinstance(chosen, str) else "".join(m.get("content", "") for m in chosen or [])
        out[str(row.get("id"))] = text
    return out


def export_run(folder: Path, engine: str, out: Path) -> dict[str, Any]:
    """Write the run's data for `engine` into `out`; return the manifest."""
    if engine not in ENGINES:
        raise ExportError(f"engine is one of {', '.join(ENGINES)}, not {engine!r}")
    content_hash, constitution = run_content_hash(folder)
    sft = _checked(_rows(folder / "sft.jsonl"), content_hash, folder / "sft.jsonl")
    preferences = _checked(_rows(folder / "preferences.jsonl"), content_hash, folder / "preferences.jsonl")
    pairs = _checked(_rows(folder / "rl_pairs.jsonl"), content_hash, folder / "rl_pairs.jsonl")
    if not (sft or preferences or pairs):
        raise ExportError(f"{folder} holds no sft.jsonl, preferences.jsonl or rl_pairs.jsonl rows to export")
    references = reference_answers(preferences)
    meta = {"caic_content_hash": content_hash, "caic_constitution": constitution}
    tables = {
        "sft": [_sft(row, engine, meta) for row in sft],
        "preferences": [_preference(row, engine, meta) for row in preferences],
        "rl_prompts": [_prompt(i, row, references.get(str(row.get("id"))), engine, meta) for i, row in enumerate(pairs)],
    }
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, rows in tables.items():
        if not rows:
            continue
        path = out / (f"{name}.parquet" if engine == "verl" else f"{name}.jsonl")
        if engine == "verl":
            _write_parquet(path, rows, meta)
        else:
            _write_jsonl(path, rows)
        files[name] = {"path": path.name, "rows": len(rows)}
    manifest = {"engine": engine, "run": str(folder.resolve()), **meta, "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _turns(row: Mapping) -> list[dict[str, str]]:
    turns = row.get("conversation") or row.get("prompt") or []
    if isinstance(turns, str):
        return [{"role": "user", "content": turns}]
    return [{"role": t["role"], "content": t["content"]} for t in turns]


def _text(message: Any) -> str:
    if isinstance(message, str):
        return message
    return "".join(m.get("content", "") for m in message or [])


def _sft(row: Mapping, engine: str, meta: Mapping) -> dict:
    messages = [{"role": m["role"], "content": m["content"]} for m in row.get("messages") or []]
    if engine == "verl":
        return {"messages": messages, "extra_info": {"id": str(row.get("id", "")), "content_hash": meta["caic_content_hash"]}}
    # OpenRLHF's chat template path joins input and output as message lists.
    return {"input": messages[:-1], "output": messages[-1:], "metadata": {"id": row.get("id"), **meta}}


def _preference(row: Mapping, engine: str, meta: Mapping) -> dict:
    base = {"prompt": _turns(row), "chosen": _text(row.get("chosen")), "rejected": _text(row.get("rejected"))}
    if engine == "verl":
        return {**base, "extra_info": {"id": str(row.get("id", "")), "content_hash": meta["caic_content_hash"],
                                       "soft_label": float(row.get("soft_label", 1.0))}}
    # OpenRLHF appends chosen and rejected to the prompt's turns: each is one assistant message.
    answers = {side: [{"role": "assistant", "content": base[side]}] for side in ("chosen", "rejected")}
    return {**base, **answers, "metadata": {"id": row.get("id"), "soft_label": row.get("soft_label"), **meta}}


def _prompt(index: int, row: Mapping, reference: str | None, engine: str, meta: Mapping) -> dict:
    conversation = _turns(row)
    caic = json.dumps({"id": row.get("id"), "conversation": conversation, "context": row.get("context") or {},
                       "reference": reference, "content_hash": meta["caic_content_hash"]}, sort_keys=True)
    if engine == "verl":
        return {
            "data_source": f"caic/{meta['caic_constitution']}",
            "prompt": conversation,
            "ability": "constitution",
            "reward_model": {"style": "model", "ground_truth": reference or ""},
            "extra_info": {"index": index, "id": str(row.get("id", "")), "content_hash": meta["caic_content_hash"], "caic": caic},
        }
    return {"prompt": conversation, "label": caic, "metadata": {"id": row.get("id"), **meta}}


def _write_parquet(path: Path, rows: list[dict], meta: Mapping[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in meta.items()}})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    write_atomic(path, buffer.getvalue())


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    write_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
