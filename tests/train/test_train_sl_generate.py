"""The critique → revision loop with a scripted backend: rounds, early stop, batching, rows, resume."""

from __future__ import annotations

import json

import pytest
from stub_backend import StubBackend, step_of, user_text

from cai_lang.train.run.folder import RowWriter, read_rows
from cai_lang.train.run.prompts import PromptRecord
from cai_lang.train.sl.generate import (
    CRITIQUE_INSTRUCTION,
    NO_CHANGES,
    SLGenerationConfig,
    critique_prompt,
    finds_nothing_to_fix,
    generate_chunk,
    generate_sl,
    revision_prompt,
)

PROVENANCE = {"id", "prompt", "context", "kind", "initial_response", "rounds", "final_response", "stopped_early",
              "seed", "content_hash", "deployment", "model", "critic_model", "messages"}


def red(i: int, **context) -> PromptRecord:
    return PromptRecord(id=f"r{i}", prompt=f"bad request {i}", kind="red_team", context=context)


def helpful(i: int) -> PromptRecord:
    return PromptRecord(id=f"h{i}", prompt=f"nice request {i}", kind="helpful", context={})


@pytest.mark.parametrize(
    "critique",
    [NO_CHANGES, "no changes needed", "  **No changes needed.**  ", '"No changes needed."', "Critique: No changes needed.",
     "No change is needed.", "No changes are required!", "No changes needed.\n(The response already refuses.)"],
)
def test_the_nothing_to_fix_sentence_is_recognised(critique):
    assert finds_nothing_to_fix(critique)


@pytest.mark.parametrize(
    "critique",
    ["", "The response gives a dangerous dose. No changes needed elsewhere.", "No changes needed, except the dose is wrong.",
     "Changes needed: remove the dose.", "I think no changes needed is wrong here"],
)
def test_a_real_critique_is_not_taken_for_the_sentence(critique):
    assert not finds_nothing_to_fix(critique)


def test_critique_requests_ask_for_the_sentence_and_revisions_repeat_them(bundle):
    conversation = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    critique = critique_prompt(bundle, "harmless", conversation, "chat")
    assert critique[-1]["role"] == "user" and critique[-1]["content"].endswith(CRITIQUE_INSTRUCTION)
    assert NO_CHANGES in critique[-1]["content"] and critique[:2] == conversation
    revision = revision_prompt(bundle, "harmless", conversation, "It is rude.", "chat")
    assert revision[-2] == {"role": "assistant", "content": "It is rude."}
    assert revision[-1]["content"].startswith("Rewrite the response")
    text = critique_prompt(bundle, "harmless", conversation, "text")
    assert text.startswith("Human: q\n\nAssistant: a") and text.rstrip().endswith("Critique:")


def test_rounds_run_in_batches_across_prompts(bundle):
    stub = StubBackend()
    records = [red(1), red(2), red(3)]
    done = generate_chunk(records, policy=stub, critic=None, bundle=bundle, config=SLGenerationConfig(rounds=2))
    # One call per step for all prompts together: response, then (critique, revision) per round.
    assert stub.steps() == ["response", "critique", "revision", "critique", "revision"]
    assert all(len(batch) == 3 for batch, _ in stub.calls)
    w = done[0]
    assert w.initial == "first answer to bad request 1"
    assert [r["revision"] for r in w.rounds] == ["revision 1 of bad request 1", "revision 2 of bad request 1"]
    assert w.current == "revision 2 of bad request 1" and not w.stopped_early
    # The second round critiques the first revision, not the first answer.
    second_critique = stub.calls[3][0][0]
    assert {"role": "assistant", "content": "revision 1 of bad request 1"} in second_critique


def test_a_critique_that_finds_nothing_to_fix_ends_that_prompts_loop(bundle):
    def script(step, prompt):
        user = user_text(prompt)
        if step == "critique" and user == "bad request 2":
            return NO_CHANGES
        return {"response": "answer", "critique": "too harsh", "revision": f"better {user}"}[step]

    stub = StubBackend(script=script)
    done = generate_chunk([red(1), red(2)], policy=stub, critic=None, bundle=bundle, config=SLGenerationConfig(rounds=4))
    first, second = done
    assert len(first.rounds) == 4 and not first.stopped_early
    assert second.stopped_early and len(second.rounds) == 1
    assert second.rounds[0] == {"principle": second.rounds[0]["principle"], "critique": NO_CHANGES, "revision": None, "nothing_to_fix": True}
    assert second.current == "answer"
    # Only the prompt still in the loop is revised and critiqued again.
    assert [len(batch) for batch, _ in stub.calls] == [2, 2, 1, 1, 1, 1, 1, 1, 1]


def test_the_early_stop_comes_from_the_bundle(bundle):
    from cai_lang.codegen.wording import early_stop

    def script(step, prompt):
        # The stub tells steps apart by the default sentence; this bundle asks for its own.
        if len(prompt) == 1:
            return "answer"
        return "Fine as is." if prompt[-1]["content"].endswith('"Fine as is." and nothing else.') else "better"

    own = bundle.model_copy(update={"early_stop": early_stop("Fine as is.")})
    (w,) = generate_chunk([red(1)], policy=StubBackend(script=script), critic=None, bundle=own, config=SLGenerationConfig(rounds=3))
    assert w.stopped_early and len(w.rounds) == 1
    # A bundle compiled before the early stop existed asks for nothing, so nothing stops the loop.
    older = bundle.model_copy(update={"early_stop": None})
    (w,) = generate_chunk([red(1)], policy=StubBackend(script=lambda step, prompt: NO_CHANGES), critic=None, bundle=older, config=SLGenerationConfig(rounds=3))
    assert not w.stopped_early and len(w.rounds) == 3
    assert finds_nothing_to_fix("fine as is", "Fine as is.") and not finds_nothing_to_fix(NO_CHANGES, None)


def test_a_separate_critic_writes_only_the_critiques(bundle):
    policy, critic = StubBackend("policy"), StubBackend("critic")
    generate_chunk([red(1)], policy=policy, critic=critic, bundle=bundle, config=SLGenerationConfig(rounds=2))
    assert critic.steps() == ["critique", "critique"]
    assert policy.steps() == ["response", "revision", "revision"]


def test_helpful_prompts_keep_their_answer_and_get_no_rounds(bundle):
    stub = StubBackend()
    done = generate_chunk([helpful(1), red(1)], policy=stub, critic=None, bundle=bundle, config=SLGenerationConfig(rounds=1))
    assert done[0].rounds == [] and done[0].current == "first answer to nice request 1"
    assert [len(batch) for batch, _ in stub.calls] == [2, 1, 1]


def test_principles_are_drawn_from_what_applies_to_each_prompt(bundle):
    stub = StubBackend()
    done = generate_chunk(
        [red(1, topic="general", emergency=False)], policy=stub, critic=None, bundle=bundle, config=SLGenerationConfig(rounds=4)
    )
    assert {r["principle"] for r in done[0].rounds} == {"harmless"}


def test_rows_carry_provenance_and_trl_messages(bundle, tmp_path):
    config = SLGenerationConfig(rounds=2, seed=11, chunk_size=2)
    with RowWriter(tmp_path / "rows.jsonl") as writer:
        stats = generate_sl([red(1, topic="creative"), helpful(1), red(2)], policy=StubBackend("pol"), critic=StubBackend("crit"),
                            bundle=bundle, config=config, writer=writer, model_id="/abs/pol")
    rows = read_rows(tmp_path / "rows.jsonl")
    assert stats.written == 3 and stats.chunks_run == 2
    assert [r["id"] for r in rows] == ["r1", "h1", "r2"]
    row = rows[0]
    assert PROVENANCE <= set(row)
    assert row["seed"] == 11 and row["content_hash"] == bundle.content_hash and row["deployment"] == "default"
    assert row["model"] == "/abs/pol" and row["critic_model"] == "crit"
    assert row["unknown_labels"] == ["topic"] and row["context"] == {"topic": "creative"}
    assert row["principles"] == [r["principle"] for r in row["rounds"]] and len(row["rounds"]) == 2
    assert row["messages"] == [{"role": "user", "content": "bad request 1"}, {"role": "assistant", "content": row["final_response"]}]
    assert rows[1]["kind"] == "helpful" and rows[1]["rounds"] == []
    json.dumps(rows)


def test_sampling_seeds_depend_on_position_not_history(bundle, tmp_path):
    config = SLGenerationConfig(rounds=1, seed=3, chunk_size=1)
    stub = StubBackend()
    with RowWriter(tmp_path / "full.jsonl") as writer:
        generate_sl([red(1), red(2)], policy=stub, bundle=bundle, config=config, writer=writer)
    seeds = [params.seed for _, params in stub.calls]
    assert len(set(seeds)) == len(seeds) == 6
    again = StubBackend()
    with RowWriter(tmp_path / "resumed.jsonl") as writer:
        writer.append({"id": "r1"})
        generate_sl([red(1), red(2)], policy=again, bundle=bundle, config=config, writer=writer)
    # Chunk 1 (r2) is run with exactly the seeds it had in the full run.
    assert [params.seed for _, params in again.calls] == seeds[3:]


def test_resume_redoes_a_half_written_chunk_and_writes_only_missing_rows(bundle, tmp_path):
    config = SLGenerationConfig(rounds=2, chunk_size=3)
    records = [red(i) for i in range(1, 7)]
    full = tmp_path / "full.jsonl"
    with RowWriter(full) as writer:
        generate_sl(records, policy=StubBackend(), bundle=bundle, config=config, writer=writer)
    partial = tmp_path / "partial.jsonl"
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    partial.write_text("".join(lines[:4]) + lines[4][:20], encoding="utf-8")  # killed mid-row 5
    stub = StubBackend()
    with RowWriter(partial) as writer:
        stats = generate_sl(records, policy=stub, bundle=bundle, config=config, writer=writer)
    assert stats.written == 2 and stats.already_present == 4 and stats.chunks_run == 1
    assert all(len(batch) == 3 for batch, _ in stub.calls)  # the whole second chunk again
    assert partial.read_text(encoding="utf-8") == full.read_text(encoding="utf-8")


def test_progress_moves_as_prompts_finish_inside_a_chunk(bundle, tmp_path):
    # One chunk of six: helpful prompts finish once answered, r2 stops early, the others end with the last round.
    def script(step, prompt):
        user = user_text(prompt)
        if step == "critique" and user == "bad request 2":
            return NO_CHANGES
        return {"response": "answer", "critique": "too harsh", "revision": f"better {user}"}[step]

    records = [helpful(1), red(1), red(2), helpful(2), red(3), red(4)]
    advances: list[int] = []
    with RowWriter(tmp_path / "rows.jsonl") as writer:
        stats = generate_sl(records, policy=StubBackend(script=script), bundle=bundle,
                            config=SLGenerationConfig(rounds=2, chunk_size=6), writer=writer, on_rows=advances.append)
        assert stats.chunks_run == 1 and len(writer) == 6
    assert advances == [2, 1, 3]  # answered, stopped early, last round
    assert sum(advances) == len(records)


def test_a_resumed_chunk_counts_only_its_missing_prompts(bundle, tmp_path):
    config = SLGenerationConfig(rounds=1, chunk_size=4)
    records = [helpful(1), red(1), helpful(2), red(2)]
    path = tmp_path / "rows.jsonl"
    with RowWriter(path) as writer:
        generate_sl(records, policy=StubBackend(), bundle=bundle, config=config, writer=writer)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:2]), encoding="utf-8")  # h1 and r1 written, then killed
    advances: list[int] = []
    with RowWriter(path) as writer:
        generate_sl(records, policy=StubBackend(), bundle=bundle, config=config, writer=writer, on_rows=advances.append)
    # h2 finishes when answered, r2 after its round; h1 and r1 are redone but not counted again.
    assert advances == [1, 1]
    assert "".join(lines) == path.read_text(encoding="utf-8")


def test_text_dialect_uses_the_paper_format_and_stop_strings(bundle):
    stub = StubBackend()
    generate_chunk([red(1)], policy=stub, critic=None, bundle=bundle, config=SLGenerationConfig(rounds=1, dialect="text"))
    first, params = stub.calls[0]
    assert first == ["Human: bad request 1\n\nAssistant:"]
    assert "\n\nHuman:" in params.stop
    assert step_of(stub.calls[1][0][0]) == "critique" and step_of(stub.calls[2][0][0]) == "revision"


def test_config_is_validated():
    with pytest.raises(ValueError):
        SLGenerationConfig(dialect="json")
    with pytest.raises(ValueError):
        SLGenerationConfig(max_new_tokens=0)
    assert "chunk_size" not in SLGenerationConfig().resume_settings()
    assert SLGenerationConfig(temperature=0).sampling(1).greedy


def test_the_chunks_engine_work_is_reported_before_its_prompts_finish(bundle, tmp_path):
    # One chunk of four red-team prompts, two rounds: five engine calls, each reported as it returns.
    records = [red(i) for i in range(4)]
    config = SLGenerationConfig(rounds=2, chunk_size=4)
    events: list[tuple] = []
    with RowWriter(tmp_path / "watched.jsonl") as writer:
        generate_sl(records, policy=StubBackend(), bundle=bundle, config=config, writer=writer,
                    on_rows=lambda n: events.append(("rows", n)), on_work=lambda *state: events.append(("work", *state)))
    with RowWriter(tmp_path / "quiet.jsonl") as writer:
        generate_sl(records, policy=StubBackend(), bundle=bundle, config=config, writer=writer)
    assert (tmp_path / "watched.jsonl").read_text(encoding="utf-8") == (tmp_path / "quiet.jsonl").read_text(encoding="utf-8")
    work = [e[1:] for e in events if e[0] == "work"]
    assert events[-1] == ("rows", 4) and all(e[0] == "work" for e in events[:-1])  # every prompt ends with the last round
    assert (4, 20, 4) in work and (12, 20, 4) in work  # the answers, then a round's critiques and revisions
    assert work[-1] == (20, 20, 4) and [d for d, _, _ in work] == sorted(d for d, _, _ in work)


@pytest.mark.parametrize("early_stop", [True, False])
def test_the_early_stop_sentence_is_a_switch(bundle, tmp_path, early_stop):
    from cai_lang.train.sl.generate import generate_sl

    instruction = bundle.early_stop.instruction

    def kind(prompt):  # the stub's own step_of reads the early-stop sentence, so tell the steps apart by their request
        return "response" if len(prompt) == 1 else "revision" if "Rewrite" in prompt[-1]["content"] else "critique"

    stub = StubBackend(script=lambda step, prompt: NO_CHANGES if kind(prompt) == "critique" else "text")
    with RowWriter(tmp_path / "rows.jsonl") as writer:
        generate_sl([red(1)], policy=stub, bundle=bundle, config=SLGenerationConfig(rounds=2, early_stop=early_stop), writer=writer)
    (row,) = read_rows(tmp_path / "rows.jsonl")
    critiques = [p for batch, _ in stub.calls for p in batch if kind(p) == "critique"]
    assert critiques and all((instruction in " ".join(m["content"] for m in p)) == early_stop for p in critiques)
    # On: the "nothing to fix" reply stops the prompt after one round. Off (the paper's prompts): every round runs.
    assert len(row["rounds"]) == (1 if early_stop else 2) and row["stopped_early"] == early_stop
