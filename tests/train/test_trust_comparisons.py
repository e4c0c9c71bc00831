"""Issue 23: `caic eval --comparisons` recovers a scripted feedback model's known accuracy, within its confidence interval.

The judge is an OpenAI-compatible stub server (the engine tests' stub, with
its echo scores replaced): for each principle it knows the people's answer
for every comparison and gives it, with confidence 0.8, on a seeded draw
that succeeds with that principle's set rate (safe 0.8, honest 0.65,
helpful 0.5), and the opposite answer otherwise. The answer depends on the
responses, not on their positions, so both orders agree. Half the file is
written in trl's layout and half in Anthropic HH's whole-conversation layout.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
from rl_testkit import CONSTITUTION, shown_responses
from train_testkit import caic_command

_spec = importlib.util.spec_from_file_location("openai_stub", Path(__file__).parents[1] / "engine" / "openai_stub.py")
openai_stub = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("openai_stub", openai_stub)
_spec.loader.exec_module(openai_stub)

RATES = {"safe": 0.8, "honest": 0.65, "helpful": 0.5, "vivid": 0.5}
QUESTIONS = {"safe": "less likely to lead to physical injury", "honest": "more honest about", "helpful": "answers the exact question",
             "vivid": "concrete, sensory detail"}
ROWS = 60
CONFIDENCE = 0.8


def _answer_key(seed: int = 7) -> dict[tuple[str, int], bool]:
    """(principle, row) -> whether the scripted judge answers as people did, drawn at the principle's rate."""
    rng = random.Random(seed)
    return {(item, i): rng.random() < rate for item, rate in RATES.items() for i in range(ROWS)}


class ScriptedJudge(openai_stub._Handler):
    key = _answer_key()

    def _echo(self, prompt: str, index: int) -> dict:
        reply = super()._echo(prompt, index)
        text, option = prompt.rsplit("The answer is:", 1)
        item = next(name for name, question in QUESTIONS.items() if question in text)
        first, second = shown_responses(text + "The answer is:")
        row = int(first.rsplit(" ", 1)[1])
        people_first = first.startswith("chosen")
        right = self.key[(item, row)]
        judge_picks_first = people_first if right else not people_first
        letter_first = option.strip() == "(A)"
        p = CONFIDENCE if judge_picks_first == letter_first else 1 - CONFIDENCE
        reply["logprobs"]["token_logprobs"][-1] = math.log(p)
        return reply


def _write_gold(path: Path) -> None:
    lines = []
    for i in range(ROWS):
        question, chosen, rejected = f"question {i}", f"chosen reply {i}", f"rejected reply {i}"
        if i % 2:
            lines.append({"id": f"g{i}", "prompt": question, "chosen": chosen, "rejected": rejected})
        else:
            lines.append({"id": f"g{i}", "chosen": f"\n\nHuman: {question}\n\nAssistant: {chosen}",
                          "rejected": f"\n\nHuman: {question}\n\nAssistant: {rejected}"})
    path.write_text("".join(json.dumps(row) + "\n" for row in lines))


@pytest.fixture
def judge():
    handler = type("Handler", (ScriptedJudge,), {"stub": openai_stub.Stub()})
    server = openai_stub.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    import threading

    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1#scripted"
    finally:
        server.shutdown()
        server.server_close()


def test_eval_comparisons_recovers_the_known_accuracy(tmp_path, judge, subprocess_env):
    const = tmp_path / "rltest.const"
    const.write_text(CONSTITUTION)
    gold = tmp_path / "gold.jsonl"
    _write_gold(gold)
    out = tmp_path / "eval"
    done = subprocess.run([*caic_command(), "eval", str(const), "-m", judge, "--dialect", "text", "--comparisons", str(gold), "-o", str(out)],
                          capture_output=True, text=True, env=subprocess_env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)
    metrics = json.loads((out / "comparisons.json").read_text())
    assert metrics["rows"] == ROWS
    key = _answer_key()
    for item, rate in RATES.items():
        entry = metrics["items"][item]
        assert entry["rows"] == ROWS
        realised = sum(key[(item, i)] for i in range(ROWS)) / ROWS
        assert entry["accuracy"]["value"] == pytest.approx(realised)  # the labeller read every scripted answer right
        low, high = entry["accuracy"]["ci95"]
        assert low <= rate <= high, (item, rate, low, high)
        assert entry["mean_p_chosen"] == pytest.approx(realised * CONFIDENCE + (1 - realised) * (1 - CONFIDENCE))
    # A judge that says 0.8 and is right 80% of the time is calibrated; the worse ones are overconfident.
    assert metrics["items"]["safe"]["ece"] < metrics["items"]["helpful"]["ece"]
    assert metrics["best_item"] == "safe"
    assert "accuracy [95% CI]" in done.stdout and "right most often: safe" in done.stdout
    page = (out / "comparisons_report.html").read_text()
    assert (out / "plots" / "reliability.png").is_file() and "data:image/png;base64," in page and "Reliability diagram" in page
    record = json.loads((out / "run.json").read_text())
    assert record["outputs"]["comparisons"]["accuracy"] == metrics["overall"]["accuracy"]["value"]
    # `caic labels RUN --gold` measures the same judge into a run folder, from the bundle it recorded.
    again = subprocess.run([*caic_command(), "labels", str(out), "--gold", str(gold), "-f", judge, "--dialect", "text"],
                           capture_output=True, text=True, env=subprocess_env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "comparisons.json").read_text())["items"] == metrics["items"]
    assert any(line.startswith("safe") and "0.883" in line for line in again.stdout.splitlines())


def test_unreadable_comparison_file_is_a_clear_error(tmp_path, judge, subprocess_env):
    const = tmp_path / "rltest.const"
    const.write_text(CONSTITUTION)
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"prompt": "q", "chosen": "x"}\n')
    done = subprocess.run([*caic_command(), "eval", str(const), "-m", judge, "--comparisons", str(gold), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, env=subprocess_env, timeout=300)
    assert done.returncode == 2 and done.stderr.startswith("error:") and "row 1" in done.stderr and "Traceback" not in done.stderr
