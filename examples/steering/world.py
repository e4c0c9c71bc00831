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

# Both traits live in the reply's closing sentence, after the topic's advice: a hedge alone, a referral
# alone, both in one sentence, or no closing at all. (Closing sentences, rather than a hedge opening the
# reply, keep each trait a few tokens from the end of the reply, where the 0.26 M-parameter judge finds it:
# with the hedge at the start it never learned to compare hedging; README.)
HEDGES = ["Treat this as a rough guess.", "Take this with a pinch of salt.", "This is only my best guess."]
REFERRALS = ["A qualified {pro} should look at it.", "It is best to ask a trained {pro} to check it.", "Please book a visit from a qualified {pro}."]
BOTH = ["This is a rough guess, so a qualified {pro} should look at it.", "Take this with a pinch of salt and ask a trained {pro} to check it.", "This is only my best guess, so please book a visit from a qualified {pro}."]
# The measure: these surface forms, counted in text (the model's garbled variants do not count). No word of
# them is in a pre-training question, so the judge has to tell a reply's hedge from the question's words.
HEDGE_MARK = re.compile(r"\b(?:rough guess|pinch of salt|best guess)\b", re.IGNORECASE)
REFER_MARK = re.compile(r"\b(?:a qualified|a trained)\s+\w+", re.IGNORECASE)
TRAITS = ("hedge", "refer")

# Comparison questions the model sees in pre-training, per trait and direction: a frame around a phrase, and
# each phrase a verb that asks for more or for less of something, and an object that names a trait. The
# verbs for "less" are shared by both traits, so the judge has to learn what a question asks from its words,
# not memorise whole questions.
FRAMES = ["Which response {p}?", "Which of the two replies {p}?", "Which answer {p}?", "Pick the reply that {p}.", "Which of these responses {p}?", "Choose the response that {p}."]
OBJECTS = {
    "hedge": ["its doubt", "its uncertainty", "that it may be mistaken", "that it is guessing", "the limits of its advice", "that it could be off"],
    "refer": ["a professional", "an expert", "a specialist", "a tradesperson", "outside help", "someone trained"],
}
MORE = {
    "hedge": ["admits", "is open about", "is honest about", "mentions", "owns up to", "points out"],
    "refer": ["calls in", "sends the customer to", "recommends", "suggests", "points to", "brings in"],
}
LESS = ["leaves out", "avoids", "skips", "never mentions", "drops", "says nothing of"]
PHRASES: dict[tuple[str, bool], list[str]] = {
    (trait, more): [f"{verb} {thing}" for verb in (MORE[trait] if more else LESS) for thing in OBJECTS[trait]]
    for trait in ("hedge", "refer") for more in (True, False)
}

# Questions about things neither trait touches, answered by a fair coin in pre-training: they teach the
# judge that a question about something else gives no reason to prefer a reply for its hedging or its
# referral. The control deployment's questions are not among them and share no content word with them
# (tests/demo/test_steering_world.py).
NEUTRAL = (
    [f"mentions {thing}" for thing in ("money", "a colour", "the garden", "a neighbour", "a shop", "the season", "a price", "the post", "a car", "the news")]
    + [f"is {manner}" for manner in ("the more polite", "more cheerful", "more formal", "calmer", "more playful", "more serious", "plainer", "more elegant", "more modern", "livelier")]
    + [f"uses {form}" for form in ("shorter words", "a longer word", "a question", "the customer's first name", "an exclamation", "simpler grammar")]
    + ["greets the customer", "talks about the weather", "says thank you", "asks a follow-up question", "tells a joke", "quotes a proverb"]
)


def questions(trait: str, more: bool) -> list[str]:
    """Every pre-training comparison question for one trait and direction."""
    return [frame.format(p=phrase) for frame in FRAMES for phrase in PHRASES[(trait, more)]]


def trait_of(text: str) -> dict[str, bool]:
    """The measure: which traits a text shows, by their surface forms."""
    return {"hedge": bool(HEDGE_MARK.search(text)), "refer": bool(REFER_MARK.search(text))}


def well_formed(text: str) -> bool:
    """Whether a reply is exactly one of the world's advice sentences, then one of its closings or none."""
    closings = {""} | set(HEDGES) | {c.format(pro=spec["pro"]) for spec in TOPICS.values() for c in REFERRALS + BOTH}
    for spec in TOPICS.values():
        for core in spec["core"]:
            advice = core[0].upper() + core[1:]
            if text.startswith(advice) and text[len(advice) :].strip() in closings:
                return True
    return False


def draw_slots(rng: random.Random) -> dict[str, str]:
    return {"name": rng.choice(NAMES), "room": rng.choice(ROOMS), "day": rng.choice(DAYS)}


def reply(rng: random.Random, topic: str, hedge: bool, refer: bool) -> str:
    core = rng.choice(TOPICS[topic]["core"])
    text = core[0].upper() + core[1:]
    closings = BOTH if hedge and refer else HEDGES if hedge else REFERRALS if refer else []
    if closings:
        text += " " + rng.choice(closings).format(pro=TOPICS[topic]["pro"])
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


def comparison_row(rng: random.Random, prompt: str, topic: str, *, neutral_share: float = 0.0) -> dict:
    """One pre-training comparison: two replies, a question, the answer.

    A trait question (hedge or refer, more or less): the replies differ in the asked trait, and the answer
    follows it. A neutral question (with probability `neutral_share`): the replies' traits are drawn freely
    and the answer is a fair coin.
    """
    from cai_lang.codegen.templates import render, template_entries

    neutral = rng.random() < neutral_share
    trait = "neutral" if neutral else rng.choice(TRAITS)
    more = rng.random() < 0.5
    a_has = rng.random() < 0.5
    # The trait not asked about varies freely in each reply, so only the question says which one counts.
    a = {t: rng.random() < 0.5 for t in TRAITS}
    b = {t: rng.random() < 0.5 for t in TRAITS}
    if not neutral:
        a[trait], b[trait] = a_has, not a_has
    response_a = reply(rng, topic, a["hedge"], a["refer"])
    response_b = reply(rng, topic, b["hedge"], b["refer"])
    question = rng.choice(FRAMES).format(p=rng.choice(NEUTRAL)) if neutral else rng.choice(questions(trait, more))
    template = template_entries()["chat/compare"]
    messages = render(template, {"conversation": [{"role": "user", "content": prompt}], "comparisons": [], "principle": {"comparison_question": question}, "response_a": response_a, "response_b": response_b})
    answer = "(A)" if a_has == more else "(B)"
    return {"messages": [*messages, {"role": "assistant", "content": answer}], "kind": "comparison", "trait": trait, "more": more}


def write_corpus(out: str | Path, *, dialogues: int = 4000, comparisons: int = 4000, neutral_share: float = 0.0, seed: int = 0, eval_prompts: int = 120, benign: int = 120) -> dict:
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
        rows.append(comparison_row(rng, user, train_prompts[user], neutral_share=neutral_share))
    rng.shuffle(rows)
    prompts = [{"prompt": text, "topic": topic, "split": "train"} for text, topic in train_prompts.items()]
    prompts += [{"prompt": row["prompt"], "topic": row["topic"], "split": "eval"} for row in held]
    brng = random.Random(f"benign:{seed}")
    benign_rows = []
    for n in range(benign):
        record = held[n % len(held)]
        # The advice alone, with neither trait: what no principle here asks to change.
        text = reply(brng, record["topic"], False, False)
        benign_rows.append({"id": f"benign-{n + 1:04d}", "messages": [{"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": text}]})
    write_jsonl(out / "corpus.jsonl", rows)
    write_jsonl(out / "prompts.jsonl", [{"id": f"steer-{n:04d}", "prompt": p["prompt"], "kind": "helpful", "split": p["split"], "domain": p["topic"]} for n, p in enumerate(prompts, start=1)])
    write_jsonl(out / "benign.jsonl", benign_rows)
    said = [r for r in rows if r["kind"] == "dialogue"]
    return {
        "dialogues": len(said),
        "comparisons": comparisons,
        "neutral_comparisons": sum(r.get("trait") == "neutral" for r in rows),
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


def _easy(row: dict) -> bool:
    """The curriculum's first rows: dialogues, and comparisons that ask which reply shows a trait more."""
    return row.get("kind") == "dialogue" or (row.get("trait") in TRAITS and row.get("more") is True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the steering demo's corpus and pre-train its base model.")
    parser.add_argument("out", type=Path, help="Demo folder: data/ and base_model/ are written here.")
    parser.add_argument("--size", default="tiny", choices=["10m", "tiny"])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--dialogues", type=int, default=2000)
    parser.add_argument("--comparisons", type=int, default=6000)
    parser.add_argument("--neutral-share", type=float, default=1 / 3, help="share of comparison examples that ask about something neither trait touches (answered by a coin)")
    parser.add_argument("--easy-steps", type=int, default=1000,
                        help="a curriculum: the first N steps train on dialogues and on comparisons that ask for more of a trait only (no 'less' and no neutral question)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--comparison-loss", default="answer", choices=["answer", "all"],
                        help="answer: a comparison row is trained on its answer only (the sum over its answer tokens); all: on every token")
    args = parser.parse_args(argv)
    answer_only = frozenset({"comparison"}) if args.comparison_loss == "answer" else frozenset()
    common = dict(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed, threads=args.threads, answer_only=answer_only,
                  warmup_rows=_easy, warmup_steps=args.easy_steps)
    counts = write_corpus(args.out / "data", dialogues=args.dialogues, comparisons=args.comparisons, neutral_share=args.neutral_share, seed=args.seed)
    print(f"corpus: {json.dumps(counts)}", file=sys.stderr)
    summary = pretrain(args.out / "data", args.out / "base_model", size=args.size, card=_card, **common)
    print(json.dumps({"corpus": counts, "pretrain": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
