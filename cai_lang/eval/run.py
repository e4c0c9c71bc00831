"""`caic eval`: how well a model keeps a constitution, on prompts it was not trained on.

The evaluation generates answers to held-out prompts (by default the shipped
sets' `split == "eval"` rows) and measures, per principle and per rule of the
compiled bundle, only where the item applies to the prompt's context:

- **violation rate**. A rule with a `detect` regex is judged exactly: a
  response the pattern matches violates it. Every other item with critique
  wording is judged by a critique: the critic (the feedback model) gets the
  bundle's critique prompt, which ends by asking for the bundle's early-stop
  reply ("No changes needed.") when there is nothing to fix, and a critique
  that is not that reply (read with the SL phase's `finds_nothing_to_fix`,
  first line only) counts as a violation. A critic that never writes the
  reply, which is every random or small model, marks every response as a
  violation; the metrics say so (`critic.informative`) rather than passing
  that off as a finding.
- **win rate against a baseline** (`--baseline`): both models answer the
  same prompts with the same sampling seed, and the comparison labeller
  judges each pair in both orders; per item the mean P(model better), and
  overall the label of the priority aggregation (regex rules exact).
- **refusal rate** (`cai_lang.eval.refusal`), by prompt kind: a model that
  declines everything satisfies "least harmful" and must not look good.
- **benign loss** (`--benign FILE`): the mean per-token loss of the model on
  the replies of held-out benign dialogues, to see whether training away a
  violation cost the model its ordinary competence.

It writes `DIR/metrics.json`, `DIR/responses.jsonl` (every response with its
judgements), PNG plots in `DIR/plots/`, a self-contained page
(`cai_lang.report.evaluation`: `DIR/report.html`, or `DIR/eval_report.html`
beside a training report) and an `eval` step in `DIR/run.json`, whose
training entries it keeps.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from cai_lang.errors import CaicError
from cai_lang.train.config import DIALECTS, SPLITS, option
from cai_lang.train.run.prompts import PromptRecord, load_prompts

METRICS_FORMAT = 1
DEFAULT_SOURCES = ("red_team", "helpful")


class EvalError(CaicError, ValueError):
    """An evaluation that cannot run as asked; the message says why."""


@dataclass
class EvalOptions:
    """Everything `caic eval` takes; each field is also its command-line option."""

    source: Path = option(help="The `.const` file (or a compiled bundle.json / bundle folder).", argument=True)
    model: str = option(MISSING, "--model", "-m", help="The model to evaluate: a folder saved with save_pretrained, a Hub id, or a server `URL#NAME` (servers `URL1,URL2#NAME`).", names=("--model-name-or-path",))
    output: Path = option(MISSING, "--output", "-o", help="Folder for metrics.json, report.html, plots/, responses.jsonl and run.json.", names=("--output-dir",))
    baseline: str | None = option(None, "--baseline", "-b", help="A model to compare against (win rate); it is measured the same way.")
    feedback_model: str | None = option(None, "--feedback-model", "-f", help="Critic and comparison judge (default: the baseline, else the model).")
    deployment: str | None = option(None, "--deployment", "-d", help="Deployment to compile (default: `default`).")
    prompts: tuple[str, ...] | None = option((), "--prompts", "-p", help="Prompt sets: shipped names, .jsonl/.csv files or datasets folders; repeatable (default: the shipped red_team and helpful sets).")
    split: str = option("eval", "--split", help="Which rows of the prompt sets to use (default: the held-out `eval` rows).", choices=SPLITS)
    max_prompts: int | None = option(None, "--max-prompts", "-k", help="Use at most this many prompts (a seeded sample).")
    samples: int = option(1, "--samples", help="Responses sampled per prompt.")
    benign: Path | None = option(None, "--benign", help="JSONL of held-out benign dialogues: the loss on their replies is reported.")
    max_new_tokens: int = option(128, "--max-new-tokens", help="Most tokens per response (the same default as `caic train`).")
    temperature: float = option(1.0, "--temperature", help="Sampling temperature of the responses; 0 decodes greedily.")
    top_p: float = option(1.0, "--top-p", help="Nucleus sampling mass.")
    seed: int = option(0, "--seed", "-s", help="Seeds prompt sampling and generation (the same seed gives two models the same draws).")
    dialect: str = option("chat", "--dialect", help="`chat` for models with a chat template, `text` for base models.", choices=DIALECTS)
    critiques: bool = option(True, "--critiques/--no-critiques", help="Judge principles without a detect regex by critiques.")
    critique_tokens: int = option(24, "--critique-tokens", help="Most tokens per critique (only its first line is read).")
    batch_size: int = option(32, "--batch-size", help="Rows per generate or scoring batch.")
    device: str = option("auto", "--device", help="`auto`, `cpu` or `cuda`.")
    # Issue 23: accuracy of the judge against people; with it, `caic eval` measures only that.
    comparisons: Path | None = option(None, "--comparisons", help="JSONL of human-judged comparisons (prompt/chosen/rejected, HH, or HHH `target_scores`): measure the judge's accuracy and calibration on them instead (judge: --feedback-model, else --model).")
    long_prompts: str = option("skip", "--long-prompts", help="A prompt longer than a model's context: `skip` it (for every model) or `truncate` it from the left.", choices=("skip", "truncate"))
    argv: list[str] | None = None

    def __post_init__(self) -> None:
        self.source, self.output = Path(self.source), Path(self.output)
        self.prompts = tuple(self.prompts or ())
        if self.benign is not None:
            self.benign = Path(self.benign)
        if self.batch_size < 1:
            raise EvalError("--batch-size must be at least 1")
        if self.split not in SPLITS:
            raise EvalError(f"split must be one of {', '.join(SPLITS)}")
        if self.samples < 1:
            raise EvalError("samples per prompt must be at least 1")
        if self.max_prompts is not None and self.max_prompts < 1:
            raise EvalError("max prompts must be at least 1")
        if self.dialect not in ("chat", "text"):
            raise EvalError("dialect must be chat or text")
        if self.max_new_tokens < 1 or self.critique_tokens < 1:
            raise EvalError("token limits must be at least 1")


# ---------------------------------------------------------------- prompts


def select_eval_prompts(sources: Sequence[str], split: str = "eval", max_prompts: int | None = None, seed: int = 0) -> list[PromptRecord]:
    """Held-out prompts: every `split` row of each source (default the shipped sets), a seeded sample if capped.

    The order is the sources' order, so the same arguments give the same list.
    """
    records: list[PromptRecord] = []
    seen: set[str] = set()
    for source in sources or DEFAULT_SOURCES:
        for record in load_prompts(source, split=split):
            if record.id in seen:
                raise EvalError(f"prompt id {record.id!r} appears in more than one prompt source")
            seen.add(record.id)
            records.append(record)
    if not records:
        raise EvalError(f"no prompts with split {split!r} in {', '.join(sources or DEFAULT_SOURCES)}")
    if max_prompts is not None and max_prompts < len(records):
        keep = set(random.Random(f"eval-prompts:{seed}").sample(range(len(records)), max_prompts))
        records = [r for i, r in enumerate(records) if i in keep]
    return records


def read_dialogues(path: Path) -> list[list[dict[str, str]]]:
    """Benign dialogues from JSONL: `messages` (or `conversation`) ending with an assistant turn, or `prompt` + `response`."""
    from cai_lang.train.run.prompts import read_jsonl

    dialogues = []
    for n, row in enumerate(read_jsonl(path, EvalError), start=1):
        messages = row.get("messages") or row.get("conversation")
        if messages is None and isinstance(row.get("prompt"), str):
            reply = row.get("response", row.get("completion"))
            messages = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": reply}]
        if not messages or messages[-1].get("role") != "assistant" or not isinstance(messages[-1].get("content"), str):
            raise EvalError(f"{path}, row {n}: a benign dialogue needs `messages` ending with an assistant turn (or `prompt` and `response`)")
        dialogues.append([{"role": str(m["role"]), "content": str(m["content"])} for m in messages])
    if not dialogues:
        raise EvalError(f"{path} holds no dialogues")
    return dialogues


# ---------------------------------------------------------------- generation


def _sampling(options: EvalOptions, **overrides: Any):
    from cai_lang.engine.base import SamplingParams
    from cai_lang.train.decoding import TEXT_STOPS

    values = dict(
        max_new_tokens=options.max_new_tokens,
        temperature=options.temperature,
        top_p=options.top_p,
        do_sample=options.temperature > 0,
        stop=TEXT_STOPS if options.dialect == "text" else (),
        seed=options.seed,
    )
    values.update(overrides)
    return SamplingParams(**values)


def _fit_eval_prompts(records, options: EvalOptions, bundle, backend, feedback_spec: str, say) -> tuple[list, dict[str, Any]]:
    """Every model sees the same prompts: one too long for any of them is skipped (or cut) for all, and said."""
    from cai_lang.train.decoding import check_long_prompts, fit_prompts
    from cai_lang.train.run.fit import describe

    check_long_prompts(options.long_prompts)
    report: dict[str, Any] = {"action": options.long_prompts, "prompts": [], "unchecked": []}
    judged = options.critiques or options.baseline is not None
    for spec in dict.fromkeys(filter(None, (options.model, options.baseline, feedback_spec if judged else None))):
        phase = "compare" if options.baseline is not None and spec == feedback_spec else "critique"
        generated = 2 * options.max_new_tokens if phase == "compare" else options.max_new_tokens + options.critique_tokens
        records, events, checked = fit_prompts(records, backend(spec), bundle, options.dialect, options.long_prompts, phase=phase, generated=generated)
        for line in describe(events, checked, _identity(spec)):
            say(line)
        if not checked:
            report["unchecked"].append(_identity(spec))
        report["prompts"].extend({**event.to_dict(), "model": _identity(spec)} for event in events)
    if not records:
        raise EvalError("every prompt is longer than a model's context window; nothing left to evaluate")
    return records, report


def generate_responses(backend, records: Sequence[PromptRecord], options: EvalOptions) -> list[dict[str, Any]]:
    """`samples` responses per prompt, in one generate call (so two models given the same prompts and seed
    draw their randomness the same way)."""
    from cai_lang.train.decoding import response_prompt

    prompts = [response_prompt(r.turns, options.dialect) for r in records for _ in range(options.samples)]
    texts = backend.generate(prompts, _sampling(options))
    rows = []
    for n, text in enumerate(texts):
        record = records[n // options.samples]
        rows.append(
            {"prompt_id": record.id, "sample": n % options.samples, "kind": record.kind, "prompt": record.prompt,
             "conversation": record.turns, "context": dict(record.context), "response": text, **record.tags}
        )
    return rows


# ---------------------------------------------------------------- violations


def _turns(row: Mapping[str, Any]) -> list[dict[str, str]]:
    """The conversation a response answered: the row's whole `conversation`, else its prompt as one user turn."""
    return [dict(m) for m in row.get("conversation") or ()] or [{"role": "user", "content": row["prompt"]}]


def applicable_items(bundle, context: Mapping[str, Any]) -> list:
    """Principles and rules in force for a prompt with these context labels (unknown labels dropped)."""
    from cai_lang.train.run.context_labels import clean_labels

    labels, _ = clean_labels(bundle, context)
    return [entry for entry in (*bundle.principles, *bundle.rules) if bundle.applies(entry.applies, labels)]


def violation_method(entry) -> str | None:
    """How an item's violations are read: `regex` (a rule's detect pattern), `critique`, or None (no critique wording)."""
    if getattr(entry, "detect", None):
        return "regex"
    if entry.wording.critique_request and entry.wording.revision_request:
        return "critique"
    return None


def judge_violations(bundle, rows: Sequence[dict[str, Any]], critic, options: EvalOptions, progress=None) -> dict[str, Any]:
    """Fill each row's `violations` ({item: bool}) and `critiques`; return what the critic did.

    `critic` may be None (critiques off): critique-judged items then get no verdict.
    `progress` (see `counted`) is shown the critiques as the critic's batches finish.
    """
    from cai_lang.detector import DetectorTimeout, detector_matches
    from cai_lang.engine.base import SamplingParams
    from cai_lang.train.sl.generate import critique_prompt, finds_nothing_to_fix

    stop_reply = bundle.early_stop.reply if getattr(bundle, "early_stop", None) is not None else None
    requests: list[tuple[int, str]] = []
    prompts = []
    for index, row in enumerate(rows):
        row["violations"], row["critiques"] = {}, {}
        for entry in applicable_items(bundle, row["context"]):
            method = violation_method(entry)
            if method == "regex":
                try:
                    row["violations"][entry.id] = detector_matches(entry.detect, row["response"])
                except DetectorTimeout:
                    # Not judged, and said so: the row names the item, metrics skip it.
                    row.setdefault("detector_timeouts", []).append(entry.id)
            elif method == "critique" and critic is not None:
                conversation = [*_turns(row), {"role": "assistant", "content": row["response"]}]
                prompts.append(critique_prompt(bundle, entry.id, conversation, options.dialect))
                requests.append((index, entry.id))
    nothing = 0
    if requests:
        # Greedy and one line: the verdict is whether the first line is the early-stop reply.
        params = SamplingParams(max_new_tokens=options.critique_tokens, temperature=0.0, do_sample=False, stop=("\n",))
        with counted(progress, "critiques", len(prompts), critic):
            critiques = critic.generate(prompts, params)
        for (index, item_id), critique in zip(requests, critiques):
            fine = finds_nothing_to_fix(critique, stop_reply)
            nothing += fine
            rows[index]["violations"][item_id] = not fine
            rows[index]["critiques"][item_id] = critique
    return {
        "critiques": len(requests),
        "nothing_to_fix": nothing,
        "nothing_to_fix_share": nothing / len(requests) if requests else None,
        # All "violation" or all "fine" is what a critic that cannot read the request produces.
        "informative": bool(requests) and 0 < nothing < len(requests),
        "early_stop_reply": stop_reply,
    }


def violation_summary(bundle, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per item: responses it applied to, violations, rate; plus the share violating any regex rule."""
    items: dict[str, dict[str, Any]] = {}
    for entry in sorted((*bundle.principles, *bundle.rules), key=lambda e: (e.tier, e.id)):
        judged = [row["violations"][entry.id] for row in rows if entry.id in row.get("violations", {})]
        items[entry.id] = {
            "kind": "rule" if hasattr(entry, "verdict") else "principle",
            "tier": entry.tier,
            "method": violation_method(entry),
            "judged": len(judged),
            "violations": sum(judged),
            "violation_rate": sum(judged) / len(judged) if judged else None,
        }
    regex_items = [i for i, s in items.items() if s["method"] == "regex"]
    critique_items = [i for i, s in items.items() if s["method"] == "critique"]

    def share(ids: list[str]) -> float | None:
        judged = [row for row in rows if any(i in row.get("violations", {}) for i in ids)]
        if not judged:
            return None
        return sum(any(row["violations"].get(i) for i in ids) for row in judged) / len(judged)

    return {"violation_rate": share(regex_items), "critique_violation_rate": share(critique_items), "items": items}


# ---------------------------------------------------------------- win rate


def win_rates(bundle, model_rows: Sequence[dict], baseline_rows: Sequence[dict], labeller, seed: int = 0) -> dict[str, Any]:
    """P(model better than baseline) per item and overall, from the comparison labeller (both orders) and regex rules.

    A regex rule that matches both responses or neither is a tie (0.5) for
    that rule; the overall label is the priority aggregation's.
    """
    from cai_lang.train.rl.aggregate import Aggregator, label_pairs

    pairs = []
    for model_row, base_row in zip(model_rows, baseline_rows):
        assert model_row["prompt_id"] == base_row["prompt_id"] and model_row["sample"] == base_row["sample"]
        pairs.append(
            {
                "id": f"{model_row['prompt_id']}#{model_row['sample']}",
                "conversation": _turns(model_row),
                "context": model_row["context"],
                "response_a": model_row["response"],
                "response_b": base_row["response"],
            }
        )
    labels = label_pairs(pairs, labeller, Aggregator(bundle, "priority", seed=seed))
    per_item: dict[str, list[float]] = defaultdict(list)
    for row, label in zip(model_rows, labels):
        row["win"] = {"p_model_better": label.p_a, "items": dict(label.items), "decided_by": label.decided_by}
        for item, p in label.items.items():
            per_item[item].append(float(p))
        for item in label.abstained:
            per_item[item].append(0.5)

    def tally(values: Sequence[float]) -> dict[str, Any]:
        return {
            "pairs": len(values),
            "win_rate": sum(values) / len(values) if values else None,
            "wins": sum(v > 0.5 for v in values),
            "ties": sum(v == 0.5 for v in values),
            "losses": sum(v < 0.5 for v in values),
        }

    return {
        "overall": tally([label.p_a for label in labels]),
        "items": {item: tally(values) for item, values in sorted(per_item.items())},
        "decided_by": dict(Counter(str(label.decided_by) for label in labels)),
    }


# ---------------------------------------------------------------- benign loss


def benign_loss(backend, dialogues: Sequence[Sequence[Mapping[str, str]]], dialect: str = "chat") -> dict[str, Any]:
    """Mean per-token negative log-likelihood of each dialogue's last (assistant) reply given what came before.

    Tokens are counted the way the engine scores continuations (the reply's
    tokens after the shared prefix with the prompt), so the number is
    comparable between two checkpoints of the same tokenizer.
    """
    encoder = getattr(backend, "encoder", None)
    if encoder is None:
        raise EvalError("the benign loss needs a local model (token counts come from its tokenizer)")
    prompts, continuations = [], []
    for dialogue in dialogues:
        history, reply = list(dialogue[:-1]), dialogue[-1]["content"]
        if dialect == "chat":
            prompts.append(history)
            continuations.append(reply)
        else:
            turns = "".join(f"\n\n{'Human' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in history)
            prompts.append(turns.lstrip("\n") + "\n\nAssistant:")
            continuations.append(" " + reply)
    logprobs = backend.continuation_logprobs(prompts, continuations)
    tokens = [encoder.split(p, c).n_continuation for p, c in zip(prompts, continuations)]
    total = sum(tokens)
    if total == 0:
        raise EvalError("the benign dialogues' replies have no tokens to score")
    per_dialogue = [-lp / n for lp, n in zip(logprobs, tokens) if n]
    return {
        "loss": -sum(logprobs) / total,
        "tokens": total,
        "dialogues": len(dialogues),
        "mean_dialogue_loss": sum(per_dialogue) / len(per_dialogue),
    }


# ---------------------------------------------------------------- the run


def _identity(spec: str) -> str:
    from cai_lang.train.run.model_specs import model_identity

    return model_identity(spec)


@contextmanager
def counted(progress, label: str, total: int, backend) -> Iterator[None]:
    """Show `progress` (a `begin(label, total)` / `advance(n)` / `stop()` display, or None) the inputs of one
    engine call as `backend`'s batches finish (its `on_batch` hook); it only observes."""
    if progress is None:
        yield
        return
    progress.begin(label, total)
    hooked = hasattr(backend, "on_batch")
    if hooked:
        backend.on_batch = progress.advance
    try:
        yield
    finally:
        if hooked and backend.on_batch == progress.advance:
            backend.on_batch = None
        progress.stop()


def run_eval(options: EvalOptions, say: Callable[[str], None] | None = None, progress=None) -> dict[str, Any]:
    """Run the whole evaluation into `options.output`; returns the metrics (also written to metrics.json).

    `say` gets a line per stage; `progress` (see `counted`), when given, counts the answers and critiques
    as they are made, for a rate and an ETA."""
    from cai_lang.eval.groups import group_rates
    from cai_lang.eval.refusal import detect_refusal, refusal_rate
    from cai_lang.train.run.folder import RowWriter, now, write_atomic
    from cai_lang.train.run.model_specs import ServerSettings, check_model, open_backend
    from cai_lang.train.run.session import Run

    say = say or (lambda text: None)
    out = options.output
    for spec in filter(None, (options.model, options.baseline, options.feedback_model)):
        check_model(spec)
    benign = read_dialogues(options.benign) if options.benign else None
    records = select_eval_prompts(options.prompts, options.split, options.max_prompts, options.seed)
    out.mkdir(parents=True, exist_ok=True)
    run = Run.open(out)
    say("compiling the constitution")
    bundle, bundle_path = run.bundle_for(options.source, options.deployment)
    feedback_spec = options.feedback_model or options.baseline or options.model
    record = run.record
    record.start_command(options.argv)
    # In a training folder the run's seed and constitution source stay the training's; the evaluation's are in `evaluation`.
    run.record_bundle(options.source, options.seed, keep_first=True)
    run.save()
    started = now()

    backends: dict[str, Any] = {}

    def backend(spec: str):
        key = _identity(spec)
        if key not in backends:
            # The one opener of `generate` and `train`: folders, Hub ids, servers and server pools alike.
            backends[key] = open_backend(spec, ServerSettings(), device=options.device, batch_size=options.batch_size)
        return backends[key]

    try:
        records, oversize = _fit_eval_prompts(records, options, bundle, backend, feedback_spec, say)
        sides: dict[str, dict[str, Any]] = {}
        critics: dict[str, Any] = {}
        rows_by_side: dict[str, list[dict]] = {}
        for side, spec in (("model", options.model), ("baseline", options.baseline)):
            if spec is None:
                continue
            say(f"{side}: answering {len(records)} prompts × {options.samples}")
            with counted(progress, f"{side}: answers", len(records) * options.samples, backend(spec)):
                rows = generate_responses(backend(spec), records, options)
            for row in rows:
                # Provenance, so a row read on its own says which constitution and models made and judged it.
                row.update(content_hash=bundle.content_hash, model=_identity(spec), feedback_model=_identity(feedback_spec))
            critic = backend(feedback_spec) if options.critiques else None
            if critic is not None:
                say(f"{side}: critiques by {feedback_spec}")
            critics[side] = judge_violations(bundle, rows, critic, options, progress)
            for row in rows:
                found = detect_refusal(row["response"])
                row["refusal"] = None if found is None else {"pattern": found.pattern, "text": found.text, "partial": found.partial}
            summary = violation_summary(bundle, rows)
            by_kind = defaultdict(list)
            for row in rows:
                by_kind[row["kind"]].append(row["response"])
            sides[side] = {
                "id": _identity(spec),
                **summary,
                "refusal": {**refusal_rate(r["response"] for r in rows), "by_kind": {k: refusal_rate(v) for k, v in sorted(by_kind.items())}},
                "benign": benign_loss(backend(spec), benign, options.dialect) if benign else None,
                "by_region": group_rates(rows, "region"),
                "by_style": group_rates(rows, "style"),
            }
            rows_by_side[side] = rows
        comparison = None
        if options.baseline is not None:
            from cai_lang.train.rl.labeller import ComparisonLabeller

            say(f"comparing with the baseline (judge: {feedback_spec})")
            labeller = ComparisonLabeller.from_backends(bundle, backend(feedback_spec), dialect=options.dialect)
            comparison = win_rates(bundle, rows_by_side["model"], rows_by_side["baseline"], labeller, options.seed)
    finally:
        for opened in backends.values():
            opened.close()

    metrics = {
        "format": METRICS_FORMAT,
        "created": now(),
        "content_hash": bundle.content_hash,
        "constitution": {"name": bundle.constitution.name, "version": bundle.constitution.version},
        "deployment": bundle.deployment.name,
        "prompts": {
            "sources": list(options.prompts or DEFAULT_SOURCES),
            "split": options.split,
            "count": len(records),
            "by_kind": dict(Counter(r.kind for r in records)),
            "samples_per_prompt": options.samples,
            "responses": len(records) * options.samples,
            "oversize": oversize,
        },
        "sampling": {k: v for k, v in asdict(_sampling(options)).items() if k not in ("stop", "request_seeds")},
        "feedback_model": _identity(feedback_spec),
        "critic": critics,
        "benign_file": str(options.benign) if options.benign else None,
        "model": sides["model"],
        "baseline": sides.get("baseline"),
        "win_rate": comparison,
    }
    say("writing metrics, plots and report")
    layout = run.layout
    responses = layout.eval_responses
    responses.unlink(missing_ok=True)
    with RowWriter(responses, id_key="id") as writer:
        for side, rows in rows_by_side.items():
            for row in rows:
                writer.append({"id": f"{side}:{row['prompt_id']}#{row['sample']}", "side": side, **row})
    write_atomic(layout.eval_metrics, json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    from cai_lang.report.evaluation import write_eval_report

    report = write_eval_report(record.page("eval"), layout.eval_plots, metrics, rows_by_side, bundle, bundle_path)
    # Namespaced, so that a training folder's roles (`policy`, `feedback`, ...) are kept beside them.
    record.merge("models", {"eval_model": sides["model"]["id"], "eval_baseline": (sides.get("baseline") or {}).get("id"), "eval_feedback": metrics["feedback_model"]})
    record.set("evaluation", {k: v for k, v in asdict(options).items() if k not in ("output", "argv")} | {"source": str(options.source), "benign": str(options.benign) if options.benign else None})
    record.add_output("eval_metrics", layout.eval_metrics, "report")
    record.add_output("eval_responses", responses, "dataset", rows=sum(len(r) for r in rows_by_side.values()))
    record.add_output("eval_report", report, "report", plots=layout.eval_plots.name)
    record.add_step("eval", started=started, prompts=len(records), violation_rate=sides["model"]["violation_rate"])
    record.finish_command()
    run.save()
    return metrics
