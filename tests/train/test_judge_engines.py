"""The reward server and exports through the engines' own client code, installed from PyPI.

- OpenRLHF 0.11.2 (`pip install --no-deps openrlhf`, plus aiohttp and pylatexenc
  that its `openrlhf.utils` imports): the test runs OpenRLHF's
  `SingleTurnAgentExecutor.execute`, the single-turn rollout step that
  tokenises the prompt, asks its engine for a response, decodes prompt plus
  response into the query, and posts it to `--remote_rm_url` with its own
  aiohttp code. Only the vLLM engine is a stand-in (it returns set tokens).
- verl 0.9.1 (`pip install --no-deps verl`): importing the `verl` package
  starts Ray (its `__init__` imports `verl.protocol`), which the CPU test
  machines do not have; so the test loads verl's own loader module file,
  `verl/utils/import_utils.py` (standard library only), without running
  the package's `__init__`, and loads caic's reward module with verl's
  `load_extern_object`, as `custom_reward_function.path` does. It then
  calls it as verl's naive reward manager does (keyword arguments
  `data_source`, `solution_str`, `ground_truth`, `extra_info`), on a row of
  the parquet file `caic export-data --engine verl` wrote, read back with pyarrow.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from rl_testkit import compile_test_bundle

from cai_lang.judge import Judge
from cai_lang.judge.server import ServerThread
from cai_lang.train.rl.aggregate import Aggregator
from cai_lang.train.rl.labeller import ComparisonLabeller

CONTEXT = {"risk": "low", "fiction": False}
CONVERSATION = [{"role": "user", "content": "How should I store kitchen knives?"}]
REFERENCE = "Keep them in a knife block, blades covered."


@pytest.fixture(scope="module")
def rl_bundle(tmp_path_factory):
    return compile_test_bundle(tmp_path_factory.mktemp("engines_bundle"))


@pytest.fixture(scope="module")
def judge(rl_bundle, tiny_model):
    from cai_lang.engine.local import LocalBackend

    backend = LocalBackend(str(tiny_model), device="cpu")
    with Judge(rl_bundle, ComparisonLabeller.from_backends(rl_bundle, backend), Aggregator(rl_bundle, "priority"), opened=[backend]) as judge:
        yield judge


def test_openrlhf_rollout_step_gets_the_constitution_reward_from_the_server(judge, tiny_model):
    # Installed by scripts/setup.sh (--no-deps); a missing one fails here rather than skipping.
    from openrlhf.utils.agent import SingleTurnAgentExecutor
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    prompt = tokenizer.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    response = "Put them in a drawer with the points away from you."

    class StandInEngine:  # vLLM's place: returns the response's tokens and an EOS
        async def generate(self, prompt_token_ids, params, multi_modal_data=None):
            ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            return SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, finish_reason="stop", logprobs=None)])

    params = SimpleNamespace(max_tokens=32, logprobs=None)
    # The label column as `caic export-data --engine openrlhf` writes it.
    label = json.dumps({"conversation": CONVERSATION, "context": CONTEXT, "reference": REFERENCE})
    (expected,) = judge.score(CONVERSATION, [response], context=CONTEXT, reference=REFERENCE)
    with ServerThread(judge) as url:
        executor = SingleTurnAgentExecutor(remote_rm_url=url + "/openrlhf")
        output = asyncio.run(executor.execute(prompt, label, params, 512, tokenizer, StandInEngine()))
        # A prompt with no reference and no group cannot be judged: OpenRLHF's client gets an error, not a 0.
        failed = asyncio.run(executor.execute(prompt, None, params, 512, tokenizer, StandInEngine()))
    assert expected.ok and output["reward"] == pytest.approx([expected.reward], abs=1e-6)
    assert output["extra_logs"]["caic_content_hash"] == judge.bundle.content_hash
    assert failed["reward"] is None


def _verl_loader():
    spec = importlib.util.find_spec("verl")  # finding the package runs none of it
    assert spec is not None and spec.submodule_search_locations, "verl is not installed (scripts/setup.sh installs it with --no-deps)"
    path = Path(next(iter(spec.submodule_search_locations))) / "utils" / "import_utils.py"
    module_spec = importlib.util.spec_from_file_location("verl_import_utils_standalone", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.load_extern_object


def _run_folder(folder: Path, bundle) -> Path:
    """A run folder as `caic generate rl` leaves it: the bundle, RL pairs and the preferences they gave."""
    from cai_lang.codegen.compiler import write_bundle
    from cai_lang.train.run.record import RunRecord

    (bundle_file,) = [p for p in write_bundle(bundle, folder / "bundle") if p.name == "bundle.json"]
    record = RunRecord.open(folder)
    record.add_output("bundle", bundle_file, "bundle")
    record.save()
    pair = {"id": "q0", "conversation": CONVERSATION, "context": CONTEXT, "response_a": REFERENCE, "response_b": "Anywhere.",
            "content_hash": bundle.content_hash}
    preference = {"id": "q0", "prompt": CONVERSATION, "chosen": [{"role": "assistant", "content": REFERENCE}],
                  "rejected": [{"role": "assistant", "content": "Anywhere."}], "soft_label": 0.7, "content_hash": bundle.content_hash}
    sft = {"id": "q0", "messages": [*CONVERSATION, {"role": "assistant", "content": REFERENCE}], "content_hash": bundle.content_hash}
    for name, row in (("rl_pairs.jsonl", pair), ("preferences.jsonl", preference), ("sft.jsonl", sft)):
        (folder / name).write_text(json.dumps(row) + "\n", encoding="utf-8")
    return folder


def test_verl_loads_the_reward_module_and_scores_an_exported_row_through_the_server(judge, rl_bundle, tmp_path):
    import pyarrow.parquet as pq

    from cai_lang.judge import verl_reward
    from cai_lang.judge.export import export_run

    load_extern_object = _verl_loader()
    compute_score = load_extern_object(module_path=verl_reward.__file__, object_name="compute_score")
    manifest = export_run(_run_folder(tmp_path / "run", rl_bundle), "verl", tmp_path / "verl")
    table = pq.read_table(tmp_path / "verl" / manifest["files"]["rl_prompts"]["path"])
    assert table.schema.metadata[b"caic_content_hash"].decode() == rl_bundle.content_hash
    assert {"data_source", "prompt", "ability", "reward_model", "extra_info"} <= set(table.column_names)
    row = table.to_pylist()[0]
    response = "Put them in a drawer."
    (expected,) = judge.score(CONVERSATION, [response], context=CONTEXT, reference=REFERENCE)
    with ServerThread(judge) as url:
        # As verl's naive reward manager calls it, with reward_kwargs {"url": ...} merged in.
        got = compute_score(data_source=row["data_source"], solution_str=response, ground_truth=row["reward_model"]["ground_truth"],
                            extra_info={**row["extra_info"], "num_turns": None}, url=url)
    assert got == pytest.approx(expected.reward, abs=1e-6)


def test_openrlhf_export_carries_the_hash_and_the_label_the_server_reads(rl_bundle, tmp_path):
    from cai_lang.judge.export import export_run
    from cai_lang.judge.protocol import parse_openrlhf

    manifest = export_run(_run_folder(tmp_path / "run", rl_bundle), "openrlhf", tmp_path / "orlhf")
    assert manifest["caic_content_hash"] == rl_bundle.content_hash and set(manifest["files"]) == {"sft", "preferences", "rl_prompts"}
    (prompt_row,) = [json.loads(line) for line in (tmp_path / "orlhf" / "rl_prompts.jsonl").read_text().splitlines()]
    assert prompt_row["metadata"]["caic_content_hash"] == rl_bundle.content_hash
    (group,), _ = parse_openrlhf({"query": ["PROMPT answer<|endoftext|>"], "prompts": ["PROMPT "], "labels": [prompt_row["label"]]})
    assert group.responses == ("answer",) and group.reference == REFERENCE and dict(group.context) == CONTEXT
    (sft,) = [json.loads(line) for line in (tmp_path / "orlhf" / "sft.jsonl").read_text().splitlines()]
    assert sft["input"] == CONVERSATION and sft["output"] == [{"role": "assistant", "content": REFERENCE}]
    (preference,) = [json.loads(line) for line in (tmp_path / "orlhf" / "preferences.jsonl").read_text().splitlines()]
    assert preference["prompt"] == CONVERSATION and preference["chosen"] == [{"role": "assistant", "content": REFERENCE}]


def test_preference_model_rewards_are_its_scores_in_process_and_over_http(rl_bundle, tiny_model, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from cai_lang.judge import JudgeOptions
    from cai_lang.judge.clients import local_reward_function
    from cai_lang.train.rl.preference import load_preference_model, reward_scores

    # A preference-model folder as `caic train` saves one (a sequence classifier, one label, pad id set);
    # its score head is untrained here, so only the plumbing is tested, not what the scores mean.
    folder = tmp_path / "preference_model"
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_model), num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    responses = ["Keep them in a block.", "Call 123-45-6789 for knives."]
    loaded, loaded_tokenizer = load_preference_model(folder, "cpu")
    direct = reward_scores(loaded, loaded_tokenizer, [[*CONVERSATION, {"role": "assistant", "content": r}] for r in responses])
    with Judge.open_preference_model(rl_bundle, folder, JudgeOptions(device="cpu")) as judge:
        results = judge.score(CONVERSATION, responses, context=CONTEXT)
        trl_rewards = local_reward_function(judge)([CONVERSATION] * 2, [[{"role": "assistant", "content": r}] for r in responses])
        with ServerThread(judge) as url:
            body = json.dumps({"prompt": CONVERSATION, "responses": [responses[0]], "context": CONTEXT}).encode()
            request = urllib.request.Request(url + "/judge", data=body, method="POST", headers={"Content-Type": "application/json"})
            reply = json.loads(urllib.request.urlopen(request, timeout=60).read())
    assert [r.reward for r in results] == pytest.approx(direct, abs=1e-5) and direct[0] != direct[1]
    assert trl_rewards == pytest.approx(direct, abs=1e-5)
    # A lone response needs no reference here: the model scores it on its own.
    assert reply["judgements"][0]["reward"] == pytest.approx(direct[0], abs=1e-5) and reply["reward"] == "preference-model"
    assert results[1].detectors == {"no_ssn": True} and results[0].method == "preference-model"
    assert results[0].feedback_models == (str(folder.resolve()),)
