"""What the CPU demos share: JSONL files and pre-training a tiny model from scratch on chat rows.

`examples/demo` (a `detect` rule) and `examples/steering` (principles only)
each write a synthetic corpus of chat rows (`{"messages": [...]}`) and then
call `pretrain` here: a byte-level BPE tokenizer trained on the corpus,
caic's tiny Llama built from scratch (`build_tiny_model`), and a plain
next-token loop over whole chat-formatted rows. `deterministic()` is what
makes two runs with one seed give the same model.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Callable


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def read_jsonl(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def deterministic(threads: int | None = None) -> None:
    """Same seed, same numbers: deterministic kernels and (optionally) a fixed thread count."""
    import torch

    torch.use_deterministic_algorithms(True)
    if threads:
        torch.set_num_threads(threads)


def pretrain(
    data_dir: str | Path,
    model_dir: str | Path,
    *,
    size: str = "10m",
    steps: int = 200,
    batch_size: int = 16,
    learning_rate: float = 2e-3,
    seed: int = 0,
    threads: int | None = None,
    log_every: int = 25,
    card: Callable[[dict], str] | None = None,
    answer_only: frozenset[str] = frozenset(),
    warmup_rows: Callable[[dict], bool] | None = None,
    warmup_steps: int = 0,
) -> dict:
    """Build a tiny model with a tokenizer trained on the corpus and train it on whole dialogues.

    A plain loop (AdamW, linear warm-up then cosine decay, next-token loss on
    every token of the chat-formatted dialogue) rather than a trl trainer:
    this is pre-training, not the constitution's fine-tuning, and the loop
    costs nothing to set up. Writes `training_log.json` beside the model, and
    `card(summary)` as its README when given.

    Rows whose `kind` is in `answer_only` (the steering demo's comparison
    examples) are trained on their last reply only, the answer: such a row's
    loss is the sum over its answer tokens, any other row's the mean over its
    tokens, and the batch loss is the mean over rows, so that the one answer
    letter weighs as much as a whole dialogue instead of being drowned by it.
    With `answer_only` empty the loss is the plain mean over all tokens.
    A curriculum: for the first `warmup_steps` steps, batches are drawn only
    from the rows `warmup_rows` accepts; after that from every row.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cai_lang.engine.tiny import build_tiny_model

    deterministic(threads)
    data_dir, model_dir = Path(data_dir), Path(model_dir)
    rows = read_jsonl(data_dir / "corpus.jsonl")
    texts = [turn["content"] for row in rows for turn in row["messages"]]
    build_tiny_model(model_dir, size=size, seed=seed, corpus=texts)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    encoded = [tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"] for row in rows]
    starts = [_answer_start(tokenizer, row["messages"], ids) if row.get("kind") in answer_only else 0 for row, ids in zip(rows, encoded)]
    pad = tokenizer.pad_token_id
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(1, steps // 20)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    easy = [i for i, row in enumerate(rows) if warmup_rows(row)] if warmup_rows is not None and warmup_steps else list(range(len(rows)))
    log, started, order, cursor = [], time.perf_counter(), [], 0
    for step in range(steps):
        if step == warmup_steps and len(easy) != len(rows):
            order, cursor = [], 0  # the curriculum is over: from now on every row
        if cursor + batch_size > len(order):
            pool = easy if step < warmup_steps else list(range(len(rows)))
            order, cursor = [pool[i] for i in torch.randperm(len(pool), generator=generator).tolist()], 0
        picked = order[cursor : cursor + batch_size]
        batch = [encoded[i] for i in picked]
        cursor += batch_size
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, ids in enumerate(batch):
            input_ids[r, : len(ids)] = torch.tensor(ids)
            labels[r, starts[picked[r]] : len(ids)] = torch.tensor(ids[starts[picked[r]] :])
            mask[r, : len(ids)] = 1
        if answer_only:
            logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1]
            targets = labels[:, 1:]
            token_loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="none")
            # A dialogue row weighs its mean token loss; an answer row the sum over its few answer tokens,
            # so the one token that decides it ("A" or "B") weighs as much as a whole dialogue.
            counted = (targets != -100).sum(dim=1).clamp(min=1)
            answer_rows = torch.tensor([rows[i].get("kind") in answer_only for i in picked])
            per_row = token_loss.sum(dim=1) / torch.where(answer_rows, torch.ones_like(counted), counted)
            loss = per_row.mean()
        else:
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if (step + 1) % log_every == 0 or step == steps - 1:
            entry = {"step": step + 1, "loss": round(loss.item(), 4), "learning_rate": scheduler.get_last_lr()[0], "elapsed_s": round(time.perf_counter() - started, 1)}
            log.append(entry)
            print(f"pretrain step {entry['step']}/{steps} loss {entry['loss']:.3f} ({entry['elapsed_s']} s)", file=sys.stderr, flush=True)
    model.eval()
    model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    wall = time.perf_counter() - started
    params = sum(p.numel() for p in model.parameters())
    summary = {"steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "parameters": params, "vocab": len(tokenizer), "train_seconds": round(wall, 1), "final_loss": log[-1]["loss"] if log else None}
    (model_dir / "training_log.json").write_text(json.dumps({"log_history": log, "summary": summary}, indent=2) + "\n", encoding="utf-8")
    if card is not None:
        (model_dir / "README.md").write_text(card(summary), encoding="utf-8")
    return summary


def _answer_start(tokenizer, messages: list[dict], ids: list[int]) -> int:
    """Where the last reply's tokens start in `ids`: after the chat prompt that asks for it."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    if list(ids[: len(prompt)]) != list(prompt):
        raise ValueError("the chat template does not render the prompt as a prefix of the whole row")
    return len(prompt)
