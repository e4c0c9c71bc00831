"""The policy methods `caic train --method` offers, one registry entry each, and the rows each trains on.

A `Method` says everything the rest of caic asks about a method: whether it
samples online or trains on the labelled pairs offline, the function that
turns the run's rows into its trl dataset, the names of its trl trainer and
config class, which of the policy options its model card records, the label
reports and progress lines print, and the help text of `--method`. The CLI
choices (`cai_lang.train.config.METHODS`), the checks of
`cai_lang.train.settings`, the trainer `cai_lang.train.rl.policy` builds,
the progress line of `cai_lang.train.rl.pipeline` and the model card are all
read from here, so a new method is one entry plus its rows function.
Nothing here imports torch or trl: the classes are named, and looked up in
trl when the method trains.

Offline rows come from the soft-labelled preference rows (prompt, chosen,
rejected, `soft_label` = P(chosen better)): near-ties (a label within the tie
margin of 0.5) are dropped, since a coin-flip label would teach a preference
the labeller does not hold. DPO takes the rest as chosen/rejected pairs; KTO
takes each side alone, the side the constitution's verdict prefers as a
desirable completion and the other as an undesirable one. Online methods
all train on the prompts (`cai_lang.train.rl.policy.prompt_rows`), scored
while training by a reward. This module imports nothing of caic, so the
option declarations (`cai_lang.train.config`) can read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

# Far below any margin anyone sets, far above float rounding of labels near 0.5.
TIE_EPSILON = 1e-9

# The policy options only one kind of method reads; the model card of the other kind leaves them out.
ONLINE_ONLY = ("num_generations", "max_completion_length", "temperature", "scale_rewards", "use_vllm", "vllm_mode",
               "vllm_server_base_url", "vllm_gpu_memory_utilization")
OFFLINE_ONLY = ("tie_margin", "label_clamp")


def is_near_tie(q: float, tie_margin: float) -> bool:
    """Whether soft label `q` lies closer to 0.5 than `tie_margin` (a label exactly at the margin is kept)."""
    return q == 0.5 or abs(q - 0.5) < tie_margin - TIE_EPSILON


def effective_tie_margin(tie_margin: float, clamp: tuple[float, float] | None) -> float:
    """The margin judged against the band CoT labels are clamped to: never wider than the band's half-width,
    or a band narrower than the margin (e.g. 0.45-0.55 with 0.1) would leave the method no pair at all."""
    if clamp is None:
        return tie_margin
    low, high = clamp
    return min(tie_margin, min(high - 0.5, 0.5 - low))


def _decided(preference_rows: Sequence[Mapping], tie_margin: float):
    """(prompt, preferred, other) of every row that is not a near-tie; a label below 0.5 swaps the sides."""
    for row in preference_rows:
        q = float(row["soft_label"])
        if is_near_tie(q, tie_margin):
            continue
        yield (row["prompt"], row["chosen"], row["rejected"]) if q > 0.5 else (row["prompt"], row["rejected"], row["chosen"])


def dpo_rows(preference_rows: Sequence[Mapping], tie_margin: float = 0.1) -> list[dict]:
    """DPO's prompt/chosen/rejected rows from soft-labelled rows, dropping labels within `tie_margin` of 0.5."""
    return [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in _decided(preference_rows, tie_margin)]


def kto_rows(preference_rows: Sequence[Mapping], tie_margin: float = 0.1) -> list[dict]:
    """KTO's unpaired prompt/completion/label rows: per decided pair, the preferred response as desirable
    (`label` True) and the other as undesirable (False); near-ties give neither."""
    rows = []
    for prompt, good, bad in _decided(preference_rows, tie_margin):
        rows.append({"prompt": prompt, "completion": good, "label": True})
        rows.append({"prompt": prompt, "completion": bad, "label": False})
    return rows


@dataclass(frozen=True)
class Method:
    """One policy method: how it trains, what it reads and how it is reported."""

    name: str  # the --method value
    online: bool  # samples completions while training and needs a reward; offline methods read the labelled pairs
    trainer: str  # trl's trainer class
    config: str  # trl's config class: every field of it can be set per stage (`policy.FIELD`)
    label: str  # in progress lines, reports and the model card
    help: str  # one line for `--method`'s help
    rows: Callable[..., list[dict]] | None  # offline: (preference rows, tie margin) -> its trl rows; online: None (the prompts)
    reads: str  # what the progress line counts: "preference pairs" or "prompts"

    def card_fields(self, training: dict[str, Any]) -> dict[str, Any]:
        """The policy options of `training` this method reads (the model card's `training` section)."""
        unused = OFFLINE_ONLY if self.online else ONLINE_ONLY
        return {k: v for k, v in training.items() if k not in unused}

    def trl_classes(self):
        """(trainer class, config class) from the installed trl."""
        import trl

        return getattr(trl, self.trainer), getattr(trl, self.config)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("dpo", False, "DPOTrainer", "DPOConfig", "DPO", "direct preference optimisation on the labelled pairs (offline)",
               dpo_rows, "preference pairs"),
        Method("kto", False, "KTOTrainer", "KTOConfig", "KTO",
               "Kahneman-Tversky optimisation: each labelled pair's preferred side desirable, the other undesirable (offline)",
               kto_rows, "preference pairs"),
        Method("rloo", True, "RLOOTrainer", "RLOOConfig", "RLOO", "REINFORCE leave-one-out, sampling online against --reward",
               None, "prompts"),
        Method("grpo", True, "GRPOTrainer", "GRPOConfig", "GRPO", "group relative policy optimisation, sampling online against --reward",
               None, "prompts"),
    )
}
ONLINE = tuple(name for name, m in METHODS.items() if m.online)


def method(name: str) -> Method:
    """The registry entry of `name`; an unknown name is refused with the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; use one of {', '.join(METHODS)}") from None


def methods_help() -> str:
    return "; ".join(f"`{m.name}`: {m.help}" for m in METHODS.values()) + "."
