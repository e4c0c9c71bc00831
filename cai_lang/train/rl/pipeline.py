"""What `caic generate rl` and `caic train --phase rl|all` run in a run folder: pairs, labels, preference model, policy.

Four steps, each recorded in `DIR/run.json` with its outputs and their kinds:

1. `rl-generate`: two responses per prompt from the policy into
   `rl_pairs.jsonl`, labelled by the feedback model(s) against the bundle
   into `rl_labels.jsonl` (`cai_lang.train.rl.generate`; resumable row by row);
2. `rl-preference`: a soft-label preference model trained on those labels,
   optionally mixed with human preferences, into `preference_model/`; only
   when the policy step reads it (RLOO/GRPO with `--reward preference-model`)
   or `--preference-model always` asks for it, else recorded as skipped;
3. `rl-policy`: the policy optimised with DPO (offline, from the same
   preference rows) or RLOO/GRPO (online, rewarded by the preference model or
   the labeller itself) into `rl_policy/`.

`--phase all` runs the SL phase first and takes its model as the policy.
Training steps that ran to their end are recorded as completed; a resumed
run skips them (and refuses to, naming the difference, when their settings
changed). A training step cut short starts again from its beginning.
Every row read back is checked against the run's bundle hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cai_lang.errors import os_reason
from cai_lang.train.hardware import release
from cai_lang.train.ledger import ledger_counts, publish
from cai_lang.train.rl.generate import label_summary
from cai_lang.train.run.fit import report_long_prompts
from cai_lang.train.run.folder import RowWriter, check_hashes, read_rows
from cai_lang.train.run.formats import preference_file_rows, write_rows
from cai_lang.train.run.layout import PREFERENCE_MODEL, RL_POLICY
from cai_lang.train.run.model_specs import PipelineError, check_model, is_server, model_identity, open_backend
from cai_lang.train.run.session import GenerationStep, QuietReporter, Reporter, Run, open_generation_run, process_rank


@dataclass
class RLTraining:
    """How the RL phase trains: the preference model's and the policy's settings, and where they start."""

    method: str
    reward: str
    human_preferences: Path | None
    preference_base: str | None
    preference: Any  # PreferenceTrainingConfig
    policy: Any  # PolicyTrainingConfig
    # `auto`: the preference model is trained only when the policy step reads it; `always`: anyway.
    preference_model: str = "auto"

    @property
    def online(self) -> bool:
        from cai_lang.train.methods import method

        return method(self.method).online

    @property
    def needs_preference_model(self) -> bool:
        """Whether the policy step reads the preference model (only RLOO/GRPO rewarded by it do)."""
        return self.online and self.reward == "preference-model"


@dataclass
class RLDataResult:
    """What `rl-generate` left in the run folder."""

    pairs_path: Path
    labels_path: Path
    pairs: int
    labels: int
    written_now: int
    content_hash: str
    summary: dict[str, Any]


@dataclass
class RLPhaseResult:
    """What the RL phase of `caic train` did; a trainer whose earlier result was kept is None."""

    data: RLDataResult
    preference: Any = None  # PreferenceResult
    policy: Any = None  # PolicyResult


# ---------------------------------------------------------------- data


def _rl_settings(options: GenerationStep, bundle) -> dict[str, Any]:
    return {
        "content_hash": bundle.content_hash,
        "deployment": bundle.deployment.name,
        "policy": model_identity(options.model, options.server),
        "feedback_models": [model_identity(m, options.server) for m in options.feedback],
        "prompts": {**asdict(options.prompts), "sources": list(options.prompts.sources)},
        "generation": options.generation.resume_settings(),
    }


def generate_rl_data(run: Run, options: GenerationStep, reporter: Reporter | None = None, *, start: bool = True, finish: bool = True) -> RLDataResult:
    """Compile, then write (or, with `resume`, complete) `DIR/rl_pairs.jsonl` and `DIR/rl_labels.jsonl`.

    `start=False` continues the command entry an earlier step of this
    invocation opened (the SL phase of `--phase all`); `finish=False` leaves
    it open for the training steps that follow.
    """
    reporter = reporter or QuietReporter()
    pairs_path, labels_path = run.layout.rl_pairs, run.layout.rl_labels
    bundle, records, settings = open_generation_run(
        run,
        options,
        step="rl_generation",
        other_models=list(options.helpers),
        outputs=[("rl_pairs", pairs_path, "pairs"), ("rl_labels", labels_path, "preference_labels")],
        settings_of=_rl_settings,
        roles_of=lambda s: {"pair_policy": s["policy"], "feedback": s["feedback_models"]},
        reporter=reporter,
        start=start,
    )
    record = run.record

    with RowWriter(pairs_path) as pair_writer, RowWriter(labels_path) as label_writer:
        pairs_on_disk = {row["id"]: row for row in _checked(pairs_path, bundle.content_hash)}
        _checked(labels_path, bundle.content_hash)
        missing = [r for r in records if r.id not in label_writer]
        stats = None
        scoring: dict[str, list[str]] = {}
        reporter.start(len(records), len(records) - len(missing))
        if missing:
            reporter.phase(
                f"sampling and labelling pairs: {len(missing)} prompts, {len(options.feedback)} feedback model(s), "
                f"{options.generation.mode} mode" + (", with reasoning" if options.generation.cot else "")
            )
            stats = _generate(options, bundle, records, pair_writer, label_writer, pairs_on_disk, settings, reporter, scoring)
        reporter.stop()
        n_pairs, n_labels = len(pair_writer), len(label_writer)
    labels = read_rows(labels_path)
    summary = label_summary(labels)
    export = preference_file_rows(read_rows(pairs_path), labels)
    record.add_output("preferences", run.layout.preference_export, "preference_export", rows=write_rows(run.layout.preference_export, export),
                      format="jsonl for trl's DPOTrainer as written: conversational prompt/chosen/rejected, soft_label = P(chosen better), provenance")
    record.add_output("rl_pairs", pairs_path, "pairs", rows=n_pairs, complete=True, format="jsonl, one row per prompt: response_a, response_b and how they were sampled")
    record.add_output("rl_labels", labels_path, "preference_labels", rows=n_labels, complete=True, pairs="rl_pairs",
                      format="jsonl, one row per pair: p_a = P(response_a better), per-principle items, mode, content_hash", **summary)
    written = stats.labels_written if stats else 0
    long_prompts = report_long_prompts(stats, options.generation.long_prompts, reporter)
    # How each server scored the options: exact prompt log-probs, echo on text, or the chat endpoint's top log-probs.
    extra = {"label_scoring": scoring} if scoring else {}
    record.add_step("rl-generate", pairs=n_pairs, labels=n_labels, written=written, resumed=options.resume, long_prompts=long_prompts, **extra)
    if finish:
        record.finish_command()
    run.save()
    return RLDataResult(pairs_path, labels_path, n_pairs, n_labels, written, bundle.content_hash, summary)


def _checked(path: Path, content_hash: str) -> list[dict]:
    rows = read_rows(path) if path.exists() else []
    check_hashes(rows, content_hash, str(path))
    return rows


def _generate(options: GenerationStep, bundle, records, pair_writer, label_writer, pairs_on_disk, settings, reporter, scoring=None):
    from cai_lang.train.rl.generate import generate_rl

    need_pairs = any(r.id not in pair_writer for r in records)
    opened: dict[str, Any] = {}
    try:
        policy = _backend(options.model, options, opened) if need_pairs else None
        labeller, aggregator = build_labeller(bundle, options, opened)
        return generate_rl(
            records, policy=policy, labeller=labeller, aggregator=aggregator, bundle=bundle, config=options.generation,
            pair_writer=pair_writer, label_writer=label_writer, pairs_on_disk=pairs_on_disk,
            policy_id=settings["policy"], feedback_ids=settings["feedback_models"], on_rows=reporter.advance,
            on_work=getattr(reporter, "work", None),
        )
    finally:
        for key, backend in opened.items():
            routes = getattr(backend, "scoring_routes", None)
            if routes and scoring is not None:
                scoring[key] = sorted(routes)
            backend.close()


def _backend(spec: str, options: GenerationStep, opened: dict[str, Any]):
    # One backend per model: the default feedback model is the policy, loaded once.
    key = model_identity(spec, options.server)
    if key not in opened:
        opened[key] = open_backend(spec, options.server, device=options.device, batch_size=options.batch_size)
    return opened[key]


def build_labeller(bundle, options: GenerationStep, opened: dict[str, Any]):
    """The comparison labeller over the feedback model(s), and the aggregator, as the options say."""
    from cai_lang.train.rl.aggregate import Aggregator
    from cai_lang.train.rl.labeller import ComparisonLabeller, FeedbackModel
    from cai_lang.train.thinking import answer_prefix_for

    config = options.generation
    models = []
    for spec in options.feedback:
        # The options are what the template asks for, "(A)"/"(B)", on every backend;
        # over a chat endpoint the HTTP backend reads them from the reply's first tokens.
        backend = _backend(spec, options, opened)
        # A reasoning model that always opens <think> is scored after the block, not on "<think>" itself.
        prefix = answer_prefix_for(backend) if config.comparison_dialect == "chat" and not is_server(spec) else ""
        models.append(FeedbackModel(backend, config.comparison_dialect, answer_prefix=prefix))
    labeller = ComparisonLabeller(bundle, models, cot=config.cot, clamp=config.clamp, cot_params=config.cot_params(), ensemble=config.ensemble)
    return labeller, Aggregator(bundle, config.mode, margin=config.margin, seed=config.seed)


# ---------------------------------------------------------------- training


def train_rl(run: Run, rl: GenerationStep, training: RLTraining, reporter: Reporter | None = None, *,
             preference_base: str | None = None, start: bool = True, data_from: Path | None = None) -> RLPhaseResult:
    """`caic train --phase rl`: pairs and labels, then the preference model, then the policy.

    The preference model starts from `training.preference_base`, else
    `preference_base` (the phase's --model), else the policy.
    """
    reporter = reporter or QuietReporter()
    if process_rank()[1] > 1:
        raise PipelineError("the RL phase runs in one process; start it without `accelerate launch` (only --phase sl trains in several)")
    check_model(rl.model, rl.server, trainable=True)
    base = training.preference_base or preference_base or rl.model
    check_model(base, rl.server, trainable=True)
    human = human_rows(training.human_preferences)
    if data_from is not None:
        # `--data RUN_DIR`: pairs and labels another run generated (`run.imported`).
        from cai_lang.train.run.imported import import_run_data

        content_hash = import_run_data(run, rl, "rl", data_from, reporter)
        labels = read_rows(run.layout.rl_labels)
        data = RLDataResult(run.layout.rl_pairs, run.layout.rl_labels, len(read_rows(run.layout.rl_pairs)), len(labels), 0,
                            content_hash, label_summary(labels))
    else:
        data = generate_rl_data(run, rl, reporter, start=start, finish=False)
    bundle = run.recorded_bundle()
    pairs = _checked(data.pairs_path, data.content_hash)
    labels = _quarantined(run, bundle, rl, _checked(data.labels_path, data.content_hash), reporter)
    if training.needs_preference_model or training.preference_model == "always":
        preference = _train_preference(run, rl, training, bundle, pairs, labels, human, base, reporter)
    else:
        preference = None
        reporter.phase(f"preference model: not trained, {training.method.upper()} does not read it (--preference-model always trains it)")
        run.record.add_step("rl-preference", skipped=True, reason=f"{training.method} with reward {training.reward} does not use it")
        run.save()
    release()  # the preference model's trainer is gone before the policy's loads
    policy = _train_policy(run, rl, training, bundle, pairs, labels, human, reporter)
    run.record.finish_command()
    run.save()
    return RLPhaseResult(data, preference, policy)


def _quarantined(run: Run, bundle, rl: GenerationStep, labels: list[dict], reporter: Reporter) -> list[dict]:
    """The labels without the items `caic labels --quarantine` recorded in run.json, said and recorded, never silently."""
    items = list((run.record.get("quarantine") or {}).get("items") or [])
    if not items:
        return labels
    from cai_lang.train.rl.aggregate import Aggregator
    from cai_lang.trust.reliability import quarantine_labels

    labels, changed = quarantine_labels(labels, items, Aggregator(bundle, "priority", margin=rl.generation.margin))
    reporter.phase(f"quarantine: {', '.join(items)} left out of training ({changed} of {len(labels)} labels changed)")
    run.record.add_step("quarantine", items=items, labels=len(labels), labels_changed=changed)
    return labels


def human_rows(path: Path | None) -> list[dict]:
    if path is None:
        return []
    from cai_lang.train.rl.preference import load_human_preferences

    try:
        rows = _review_decisions(path) or load_human_preferences(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(f"--human-preferences {path}: {os_reason(exc)}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"--human-preferences {path}: {exc}") from exc
    if not rows:
        raise PipelineError(f"--human-preferences {path}: no rows in the file")
    return rows


def _review_decisions(path: Path) -> list[dict]:
    """The rows of a `caic review` decisions file (its pairs read from rl_pairs.jsonl beside it); [] for any other file."""
    from cai_lang.train.rl.preference import SOFT_LABEL
    from cai_lang.trust.decisions import decisions_as_preferences, is_decisions_file

    if not is_decisions_file(path):
        return []
    rows, counts = decisions_as_preferences(path)
    unused = {k: v for k, v in counts.items() if k != "rows" and v}
    if not rows:
        raise ValueError(f"no decision of A or B to train on ({', '.join(f'{k}: {v}' for k, v in unused.items()) or 'none'})")
    return [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"], SOFT_LABEL: 1.0, "source": "human",
             "pair_id": r["id"]} for r in rows]


def _file_digest(path: Path | None) -> str | None:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None


def _train_preference(run: Run, rl: GenerationStep, settings: RLTraining, bundle, pairs, labels, human, base: str, reporter: Reporter):
    from cai_lang.train.modelcard import TRAIN_LOG, Provenance
    from cai_lang.train.rl.preference import preference_rows, train_preference_model

    run_dir, record = run.folder, run.record
    out = run.layout.preference_model
    config = replace(settings.preference, output_dir=str(out))
    step = {
        **{k: v for k, v in asdict(config).items() if k != "output_dir"},
        "base_model": model_identity(base), "labels": len(labels), "content_hash": bundle.content_hash,
        "human_preferences": str(settings.human_preferences) if settings.human_preferences else None,
        "human_preferences_sha256": _file_digest(settings.human_preferences),
    }
    if rl.resume and record.skip_completed("rl-preference", step):
        reporter.phase(f"preference model: {out} finished before with these settings; kept")
        record.add_step("rl-preference", skipped=True)
        run.save()
        return None
    rows = preference_rows(pairs, labels) + human
    reporter.phase(f"training the preference model from {base} on {len(rows)} pairs" + (f" ({len(human)} human)" if human else ""))
    try:
        result = train_preference_model(base, rows, config, provenance=Provenance.of_bundle(bundle, run_dir), resume=rl.resume,
                                        on_ledger=lambda ledger: publish(ledger, run, "preference_model", reporter))
    except ValueError as exc:
        raise PipelineError(f"preference model: {exc}") from exc
    record.set("preference_training", step)
    record.merge("models", {"preference_model": str(out.resolve())})
    record.add_output("preference_model", out, "preference_model", base_model=model_identity(base), steps=result.steps,
                      content_hash=bundle.content_hash, train_rows=result.train_rows, human_rows=result.human_rows,
                      heldout_rows=result.heldout_rows, heldout_accuracy=result.heldout_accuracy,
                      training_log=f"{PREFERENCE_MODEL}/{TRAIN_LOG}")
    record.add_output("preference_training_log", out / TRAIN_LOG, "training_log", model="preference_model")
    record.mark_completed("rl-preference", step, ["preference_model"])
    record.add_step("rl-preference", steps=result.steps, human_rows=result.human_rows, **ledger_counts(result.ledger))
    run.save()
    return result


def _train_policy(run: Run, rl: GenerationStep, settings: RLTraining, bundle, pairs, labels, human, reporter: Reporter):
    from cai_lang.train.methods import method
    from cai_lang.train.modelcard import TRAIN_LOG, Provenance
    from cai_lang.train.rl.policy import (
        MethodUnavailable,
        labeller_reward,
        train_policy,
    )
    from cai_lang.train.rl.preference import preference_rows

    run_dir, record = run.folder, run.record
    out = run.layout.rl_policy
    config = replace(settings.policy, output_dir=str(out), method=settings.method)
    if rl.generation.cot and config.label_clamp is None:
        # CoT labels live in the clamp band; the DPO tie margin is judged against it.
        config = replace(config, label_clamp=tuple(rl.generation.clamp))
    online = settings.online
    step = {
        **{k: v for k, v in asdict(config).items() if k != "output_dir"},
        "base_model": model_identity(rl.model), "reward": settings.reward if online else None,
        "labels": len(labels), "content_hash": bundle.content_hash,
        "human_preferences_sha256": _file_digest(settings.human_preferences) if not online else None,
    }
    if rl.resume and record.skip_completed("rl-policy", step):
        reporter.phase(f"policy: {out} finished before with these settings; kept")
        record.add_step("rl-policy", skipped=True)
        run.save()
        return None
    provenance = Provenance.of_bundle(bundle, run_dir)
    entry = method(settings.method)
    opened: dict[str, Any] = {}
    try:
        if not online:
            rows = preference_rows(pairs, labels) + human
            reporter.phase(f"optimising {rl.model} with {entry.label} on {len(rows)} {entry.reads}")
            result = train_policy(rl.model, config, provenance=provenance, preference_rows=rows, resume=rl.resume,
                                  on_ledger=lambda ledger: publish(ledger, run, settings.method, reporter))
        else:
            # The whole conversation each pair answered, not only its last user turn.
            prompts = [{"id": p["id"], "prompt": p["prompt"], "conversation": p.get("conversation"), "context": p.get("context") or {}}
                       for p in pairs]
            if settings.reward == "labeller":
                reward = labeller_reward(*build_labeller(bundle, rl, opened))
            else:
                reward = run.layout.preference_model
            reporter.phase(f"optimising {rl.model} with {entry.label} on {len(prompts)} {entry.reads}, reward: {settings.reward}")
            result = train_policy(rl.model, config, provenance=provenance, prompts=prompts, reward=reward, resume=rl.resume)
    except MethodUnavailable as exc:
        raise PipelineError(str(exc)) from exc
    except ValueError as exc:
        raise PipelineError(f"policy: {exc}") from exc
    finally:
        for backend in opened.values():
            backend.close()
    record.set("policy_training", step)
    record.merge("models", {"rl_policy": str(out.resolve())})
    record.add_output("rl_policy", out, "policy", base_model=model_identity(rl.model), method=settings.method, steps=result.steps,
                      reward=step["reward"], content_hash=bundle.content_hash, training_log=f"{RL_POLICY}/{TRAIN_LOG}", **result.details)
    record.add_output("rl_policy_training_log", out / TRAIN_LOG, "training_log", model="rl_policy")
    record.mark_completed("rl-policy", step, ["rl_policy"])
    record.add_step("rl-policy", method=settings.method, steps=result.steps, **ledger_counts(result.ledger))
    run.save()
    return result
