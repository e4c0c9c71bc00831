"""The steering demo's synthetic world: a home-help line whose replies vary along two traits.

Customers of a made-up home-help line, Hearthside, ask about ordinary
household trouble (a dripping tap, a tripping fuse, a cough that will not
go). Every reply gives the same practical advice for its topic, and two
independent traits are switched on or off by a fair coin each:

- **hedge**: the reply opens by admitting it could be wrong ("I might be
  wrong, but ...");
- **refer**: the reply ends by sending the customer to a trained
  professional ("... A qualified plumber should look at it.").

Both are marked by fixed surface forms, so `trait_of` counts them in any
text without a model: that count is the demo's measure.

The corpus also holds synthetic comparison examples, so that the model
pre-trained on it can serve as a feedback model: two replies to one
prompt that differ in a trait, a question about that trait in one of four
directions (more or less hedged, more or less referring), and the answer
"(A)" or "(B)". They are rendered with caic's own chat comparison template
(`cai_lang/codegen/jinja/chat/compare.jinja`), the frame the RL labeller
asks in. The questions are drawn from `QUESTIONS` (frames x phrases); the
constitution's own wordings are not among them (`tests/demo` checks that).
This is a stand-in for a pretrained feedback model, trained on purpose to
answer these questions: nothing here says a real model would.

Names, places and topics are drawn from small lists with seeded RNGs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from lm import pretrain, read_jsonl, write_jsonl  # noqa: E402, F401  (examples/common, shared with examples/demo; summary.py reads read_jsonl here)

NAMES = ["Amara", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kemi", "Lars", "Maya", "Nico", "Olga", "Priya"]
ROOMS = ["kitchen", "bathroom", "hallway", "bedroom", "cellar", "utility room", "loft", "living room"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Each topic: who the professional is, user phrasings, and the reply's core advice.
TOPICS: dict[str, dict] = {
    "tap": {
        "pro": "plumber",
        "user": ["The tap in my {room} keeps dripping. What can I do?", "Hi, {name} here. How do I stop a dripping tap in the {room}?", "My {room} tap has dripped since {day}. Any advice?"],
        "core": ["turn off the water under the sink and replace the washer in the tap.", "the washer inside the tap is probably worn, so shut the valve and change it."],
    },
    "fuse": {
        "pro": "electrician",
        "user": ["The lights in the {room} keep tripping the fuse. Why?", "{name} here. My fuse box trips whenever I use the {room} sockets.", "Since {day} a fuse trips when I switch on the {room} light."],
        "core": ["unplug everything in that room, reset the switch and plug things back one at a time to find the faulty one.", "a faulty appliance usually trips it, so reset the switch and test each plug in turn."],
    },
    "boiler": {
        "pro": "gas engineer",
        "user": ["My boiler stopped heating the water on {day}. What should I check?", "Hello, {name} here. The boiler pressure keeps dropping. What now?", "There is no hot water in the {room}. Is it the boiler?"],
        "core": ["check the pressure gauge and top it up to about one bar with the filling loop.", "low pressure is the usual cause, so top it up with the filling loop and restart it."],
    },
    "mould": {
        "pro": "damp surveyor",
        "user": ["There is black mould on the {room} ceiling. How do I get rid of it?", "{name} here. Mould keeps coming back in my {room}.", "I found mould behind the {room} cupboard on {day}. What do I do?"],
        "core": ["wipe it with a mould spray, open a window every day and keep the room warm.", "clean it with a mould spray and air the room daily so the damp cannot settle."],
    },
    "cough": {
        "pro": "doctor",
        "user": ["I have had a cough since {day}. What helps?", "Hi, {name} here. My cough will not go away. Any advice?", "What can I do about a dry cough at night?"],
        "core": ["drink warm water with honey, rest, and keep the bedroom air moist.", "honey in warm water and plenty of rest usually ease it within a week."],
    },
    "rash": {
        "pro": "pharmacist",
        "user": ["I have an itchy rash on my arm. What should I put on it?", "{name} here. My skin went red and itchy on {day}. What helps?", "What can I use for a small itchy rash?"],
        "core": ["keep it clean and dry, avoid scratching and use a mild unscented cream.", "a cool cloth and a gentle unscented cream calm most small rashes."],
    },
    "dog": {
        "pro": "vet",
        "user": ["My dog has stopped eating since {day}. What should I do?", "Hi, it's {name}. My dog seems tired and off his food.", "Why would my dog stop eating his dinner?"],
        "core": ["offer plain boiled chicken and rice, and keep fresh water near him.", "a bland meal of chicken and rice and plenty of water often settles a dog's stomach."],
    },
    "window": {
        "pro": "glazier",
        "user": ["The {room} window has misted up between the panes. Can I fix it?", "{name} here. My {room} window has a crack in the glass.", "Cold air comes through the {room} window since {day}. What can I do?"],
        "core": ["seal the edge with clear tape for now and keep the curtain closed at night.", "a strip of clear tape and a heavy curtain keep the draught out for now."],
    },
}

HEDGES = ["I might be wrong, but", "I am not completely sure, but", "I cannot be certain, but"]
REFERRALS = ["A qualified {pro} should look at it.", "It is best to ask a trained {pro} to check it.", "Please book a visit from a qualified {pro}."]
# The measure: these surface forms, counted in text (the model's garbled variants do not count).
HEDGE_MARK = re.compile(r"\b(?:might be wrong|not completely sure|cannot be certain)\b", re.IGNORECASE)
REFER_MARK = re.compile(r"\b(?:a qualified|a trained)\s+\w+", re.IGNORECASE)
TRAITS = ("hedge", "refer")

# Comparison questions the model sees in pre-training, per trait and direction: a frame times a phrase.
FRAMES = ["Which response {p}?", "Which of the two replies {p}?", "Which answer {p}?", "Pick the reply that {p}."]
PHRASES: dict[tuple[str, bool], list[str]] = {
    ("hedge", True): ["admits it could be wrong", "says it is not sure", "is open about its doubt", "shows doubt about its own advice", "is honest that it may not know"],
    ("hedge", False): ["sounds sure of itself", "shows no doubt", "states its advice with confidence", "is certain about its advice", "never says it could be wrong"],
    ("refer", True): ["sends the customer to an expert", "suggests calling in a professional", "recommends a trained specialist", "tells the customer to get help from a trade", "passes the problem to someone qualified"],
    ("refer", False): ["lets the customer fix it alone", "keeps the fix in the customer's own hands", "does not call in a professional", "never sends the customer to anyone else", "gives advice the customer can follow alone"],
}


def questions(trait: str, more: bool) -> list[str]:
    """Every pre-training comparison question for one trait and direction."""
    return [frame.format(p=phrase) for frame in FRAMES for phrase in PHRASES[(trait, more)]]


def trait_of(text: str) -> dict[str, bool]:
    """The measure: which traits a text shows, by their surface forms."""
    return {"hedge": bool(HEDGE_MARK.search(text)), "refer": bool(REFER_MARK.search(text))}


def draw_slots(rng: random.Random) -> dict[str, str]:
    return {"name": rng.choice(NAMES), "room": rng.choice(ROOMS), "day": rng.choice(DAYS)}


def reply(rng: random.Random, topic: str, hedge: bool, refer: bool) -> str:
    core = rng.choice(TOPICS[topic]["core"])
    text = f"{rng.choice(HEDGES)} {core}" if hedge else core[0].upper() + core[1:]
    if refer:
        text += " " + rng.choice(REFERRALS).format(pro=TOPICS[topic]["pro"])
    return text


def held_out_prompts(rng: random.Random, count: int) -> list[dict]:
    """Distinct prompts to hold out, the same number per topic; each topic keeps at least one phrasing for training."""
    chosen = []
    per_topic = max(1, count // len(TOPICS))
    for topic, spec in TOPICS.items():
        slotted = [u for u in spec["user"] if "{" in u] or spec["user"][1:]
        found: dict[str, dict] = {}
        for _ in range(50 * per_topic):
            if len(found) >= per_topic:
                break
            found.setdefault(rng.choice(slotted).format(**draw_slots(rng)), topic)
        chosen += [{"prompt": text, "topic": topic} for text in found]
    return chosen


def comparison_row(rng: random.Random, prompt: str, topic: str) -> dict:
    """One pre-training comparison: two replies differing in the asked trait, the question, the answer."""
    from cai_lang.codegen.templates import render, template_entries

    trait = rng.choice(TRAITS)
    more = rng.random() < 0.5
    a_has = rng.random() < 0.5
    # The trait not asked about varies freely in each reply, so only the question says which one counts.
    a = {**{t: rng.random() < 0.5 for t in TRAITS}, trait: a_has}
    b = {**{t: rng.random() < 0.5 for t in TRAITS}, trait: not a_has}
    response_a = reply(rng, topic, a["hedge"], a["refer"])
    response_b = reply(rng, topic, b["hedge"], b["refer"])
    question = rng.choice(questions(trait, more))
    template = template_entries()["chat/compare"]
    messages = render(template, {"conversation": [{"role": "user", "content": prompt}], "comparisons": [], "principle": {"comparison_question": question}, "response_a": response_a, "response_b": response_b})
    answer = "(A)" if a_has == more else "(B)"
    return {"messages": [*messages, {"role": "assistant", "content": answer}], "kind": "comparison", "trait": trait, "more": more}


def write_corpus(out: str | Path, *, dialogues: int = 4000, comparisons: int = 4000, seed: int = 0, eval_prompts: int = 120, benign: int = 120) -> dict:
    """Write corpus.jsonl (dialogues and comparisons, shuffled), prompts.jsonl and benign.jsonl into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    held = held_out_prompts(random.Random(f"eval:{seed}"), eval_prompts)
    held_texts = {row["prompt"] for row in held}
    rng = random.Random(f"corpus:{seed}")
    topics = list(TOPICS)
    rows, train_prompts = [], {}
    while sum(r["kind"] == "dialogue" for r in rows) < dialogues:
        topic = rng.choice(topics)
        user = rng.choice(TOPICS[topic]["user"]).format(**draw_slots(rng))
        if user in held_texts:
            continue  # a held-out prompt is never trained on
        train_prompts.setdefault(user, topic)
        hedge, refer = rng.random() < 0.5, rng.random() < 0.5
        text = reply(rng, topic, hedge, refer)
        rows.append({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": text}], "kind": "dialogue", "hedge": hedge, "refer": refer})
    train_list = sorted(train_prompts)
    for _ in range(comparisons):
        user = rng.choice(train_list)
        rows.append(comparison_row(rng, user, train_prompts[user]))
    rng.shuffle(rows)
    prompts = [{"prompt": text, "topic": topic, "split": "train"} for text, topic in train_prompts.items()]
    prompts += [{"prompt": row["prompt"], "topic": row["topic"], "split": "eval"} for row in held]
    brng = random.Random(f"benign:{seed}")
    benign_rows = []
    for n in range(benign):
        record = held[n % len(held)]
        text = reply(brng, record["topic"], brng.random() < 0.5, brng.random() < 0.5)
        benign_rows.append({"id": f"benign-{n + 1:04d}", "messages": [{"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": text}]})
    write_jsonl(out / "corpus.jsonl", rows)
    write_jsonl(out / "prompts.jsonl", [{"id": f"steer-{n:04d}", "prompt": p["prompt"], "kind": "helpful", "split": p["split"], "domain": p["topic"]} for n, p in enumerate(prompts, start=1)])
    write_jsonl(out / "benign.jsonl", benign_rows)
    said = [r for r in rows if r["kind"] == "dialogue"]
    return {
        "dialogues": len(said),
        "comparisons": comparisons,
        "hedge_share": round(sum(r["hedge"] for r in said) / len(said), 4),
        "refer_share": round(sum(r["refer"] for r in said) / len(said), 4),
        "prompts_train": len(train_prompts),
        "prompts_eval": len(held),
        "benign_dialogues": len(benign_rows),
    }


def _card(summary: dict) -> str:
    return f"""# caic steering demo base model (Hearthside home help, synthetic)

A {summary['parameters']:,}-parameter Llama pre-trained from scratch on the synthetic dialogues and comparison
examples of `examples/steering/world.py` ({summary['steps']} steps, batch {summary['batch_size']}, final loss
{summary['final_loss']}). Half its replies admit doubt, half send the customer to a professional; it was
trained to answer "which reply is more/less X" for those two traits. It knows nothing else.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the steering demo's corpus and pre-train its base model.")
    parser.add_argument("out", type=Path, help="Demo folder: data/ and base_model/ are written here.")
    parser.add_argument("--size", default="tiny", choices=["10m", "tiny"])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--dialogues", type=int, default=2000)
    parser.add_argument("--comparisons", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--comparison-loss", default="answer", choices=["answer", "all"],
                        help="answer: a comparison row is trained on its answer only, every row weighing the same; all: on every token")
    args = parser.parse_args(argv)
    answer_only = frozenset({"comparison"}) if args.comparison_loss == "answer" else frozenset()
    common = dict(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed, threads=args.threads, answer_only=answer_only)
    counts = write_corpus(args.out / "data", dialogues=args.dialogues, comparisons=args.comparisons, seed=args.seed)
    print(f"corpus: {json.dumps(counts)}", file=sys.stderr)
    summary = pretrain(args.out / "data", args.out / "base_model", size=args.size, card=_card, **common)
    print(json.dumps({"corpus": counts, "pretrain": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
