"""The training side's options, typed and documented once: what `caic generate`, `caic train` and `caic eval` take.

Each option is a dataclass field with its flag, help text and help panel in
the field's metadata (the habit of trl's `*_config.py`), so the command line
(`cai_lang.cli.options` builds the typer parameters from these fields), the
library and a configuration file read the same names, defaults and help.
A few groups, one per concern: `RunConfig` (the run folder, prompts,
sampling, servers), `SLConfig` (critique → revision), `LabelConfig` (RL-CAI
labels), `FineTuneConfig`, `PreferenceConfig` and `PolicyConfig` (the trainers);
`TrainConfig` holds them for `caic train`. `caic eval` takes
`cai_lang.eval.run.EvalOptions`, declared the same way. A field with
`choices` is a plain string checked against them; the CLI shows them as a
choice. Nothing here imports torch, typer or the trainers: turning these
into each step's settings is `cai_lang.train.settings`.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from cai_lang.train.methods import METHODS as METHOD_REGISTRY
from cai_lang.train.methods import methods_help

DATA, SL, RL, SERVER, SFT, PM, POLICY, HARDWARE = (
    "Run and data", "SL-CAI", "RL-CAI labels", "Servers", "Fine-tuning (SL)", "Preference model", "Policy (RL)",
    "Hardware (every trainer)",
)
DTYPES = ("auto", "fp32", "bf16", "fp16")
HUB = "Hugging Face Hub"
PHASE_NAMES = ("sl", "rl", "all")
DIALECTS = ("chat", "text")
# Comparison prompts may also take the layout of the paper's released comparison prompts (text, for base models).
FEEDBACK_DIALECTS = (*DIALECTS, "paper")
SPLITS = ("train", "eval", "all")
# The methods the command line offers, from the registry: trl 1.16 has no PPOTrainer, so `ppo`
# (refused by cai_lang.train.rl.policy with the reason) is not offered at all.
METHODS = tuple(METHOD_REGISTRY)
TRL = "Trainer settings (trl)"
REWARDS = ("preference-model", "labeller")


def option(default: Any = MISSING, *flags: str, help: str, panel: str | None = None, choices: tuple[str, ...] | None = None,
           argument: bool = False, factory: Any = None, names: tuple[str, ...] = ()) -> Any:
    """A config field that is also a command-line option: `flags` are its names (`--rounds`, `-n`).

    No default (`MISSING`) makes the option required; `argument` makes it a
    positional argument; `names` are extra long flags (aliases).
    """
    metadata = {"flags": flags + names, "help": help, "panel": panel, "choices": choices, "argument": argument}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def cli_fields(config: type) -> list:
    """The fields of a config class that the command line shows (those declared with `option`)."""
    return [f for f in fields(config) if "flags" in f.metadata]


def option_types(config: type) -> dict[str, bool]:
    """Each option field of `config` → whether it takes a list (a config file may give one value for it)."""
    return {f.name: str(f.type).startswith("list[") for f in cli_fields(config)}


def check_choices(config: Any) -> None:
    """Refuse a value outside a field's `choices` (the library path; the CLI refuses it while parsing)."""
    for f in cli_fields(type(config)):
        value = getattr(config, f.name)
        if f.metadata["choices"] and value is not None and value not in f.metadata["choices"]:
            raise ValueError(f"{f.metadata['flags'][0]} is one of {', '.join(f.metadata['choices'])}, not {value!r}")


@dataclass
class RunConfig:
    """Where a run goes, what it reads and how it samples: shared by `caic generate sl|rl` and `caic train`."""

    file: Path = option(help="The `.const` file (or a compiled bundle.json / bundle folder).", argument=True)
    model: str = option(MISSING, "--model", "-m", help="Policy model: a folder saved with save_pretrained, a Hub id, or (generate only) a server URL.", panel=DATA, names=("--model-name-or-path",))
    output: Path = option(MISSING, "--output", "-o", help="Run folder: bundle/, data, models, run.json and report.html go here.", panel=DATA, names=("--output-dir",))
    deployment: str | None = option(None, "--deployment", "-d", help="Deployment to compile (default: `default`).", panel=DATA)
    prompts: list[str] | None = option(None, "--prompts", "-p", help="Red-team prompts: `red_team` (shipped), a .jsonl/.csv file or a datasets folder; repeatable.", panel=DATA)
    helpful: str = option("helpful", "--helpful", help="Helpful prompts to mix in: `helpful` (shipped), a file or folder, or `none`.", panel=DATA)
    helpful_fraction: float = option(0.25, "--helpful-fraction", help="Share of the selected prompts that are helpful ones (0 disables).", panel=DATA)
    split: str = option("train", "--split", help="Which split of the prompt sets to use.", panel=DATA, choices=SPLITS)
    max_prompts: int | None = option(None, "--max-prompts", "-k", help="Use at most this many prompts (a seeded sample).", panel=DATA)
    seed: int = option(0, "--seed", "-s", help="Seeds prompt selection, principle draws, sampling and training.", panel=DATA)
    max_new_tokens: int = option(128, "--max-new-tokens", help="Most tokens per response, critique, revision and reasoning.", panel=DATA)
    temperature: float = option(1.0, "--temperature", help="Sampling temperature; 0 decodes greedily (refused for RL pairs).", panel=DATA)
    top_p: float = option(1.0, "--top-p", help="Nucleus sampling mass.", panel=DATA)
    dialect: str = option("chat", "--dialect", help="`chat` for instruct models, `text` for base models.", panel=DATA, choices=DIALECTS)
    batch_size: int = option(32, "--batch-size", help="Prompts per generate batch.", panel=DATA)
    chunk_size: int = option(32, "--chunk-size", help="Prompts per chunk; rows are written as each chunk finishes.", panel=DATA)
    infer_context: bool = option(False, "--infer-context", help="The feedback model (the critic in SL) fills missing or unknown context labels by log-probability over the schema's values; recorded per row.", panel=DATA)
    long_prompts: str = option("skip", "--long-prompts", help="A prompt longer than the policy's context: `skip` it or `truncate` it from the left (recorded either way).", panel=DATA, choices=("skip", "truncate"))
    device: str = option("auto", "--device", help="`auto`, `cpu` or `cuda`.", panel=DATA)
    resume: bool = option(False, "--resume", help="Continue an interrupted run in this folder; finished steps are kept.", panel=DATA)
    served_model: str | None = option(None, "--served-model", help="The model name an http:// --model serves (a spec URL#NAME names its own).", panel=SERVER)
    api_key_env: str | None = option(None, "--api-key-env", help="Environment variable holding the server's API key (the key is never recorded).", panel=SERVER)
    chat_template_kwargs: str | None = option(None, "--chat-template-kwargs", help='JSON object passed to every model\'s chat template, e.g. \'{"enable_thinking": false}\' (generation, labelling and training).', panel=DATA)
    request_timeout: float = option(120.0, "--request-timeout", help="Seconds a whole server request may take, reply included.", panel=SERVER)
    server_tokenizer: str | None = option(None, "--server-tokenizer", help="The served model's tokenizer (a folder or Hub id): server labels are then scored exactly from the completions endpoint's prompt log-probabilities (vLLM), as a local model scores them.", panel=SERVER)
    max_retries: int = option(4, "--max-retries", help="Times a failed server request is tried again (connection errors, timeouts, 429, 5xx, cut-off replies).", panel=SERVER)
    argv: list[str] | None = None  # the command line, recorded in run.json (not an option)

    def __post_init__(self) -> None:
        self.file, self.output = Path(self.file), Path(self.output)
        check_choices(self)
        self.template_kwargs()
        if self.batch_size < 1:
            raise ValueError("--batch-size must be at least 1")
        if self.request_timeout <= 0:
            raise ValueError("--request-timeout must be more than 0 seconds")
        if self.max_retries < 0:
            raise ValueError("--max-retries must be 0 or more")

    def template_kwargs(self) -> dict[str, Any]:
        """--chat-template-kwargs parsed (an empty dict without it); a value that is not a JSON object is refused."""
        if not self.chat_template_kwargs:
            return {}
        import json

        try:
            value = json.loads(self.chat_template_kwargs)
        except ValueError as exc:
            raise ValueError(f"--chat-template-kwargs is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ValueError("--chat-template-kwargs must be a JSON object, e.g. '{\"enable_thinking\": false}'")
        return value


@dataclass
class SLConfig:
    """SL-CAI: who critiques, and for how many rounds."""

    critic_model: str | None = option(None, "--critic-model", help="A separate model that writes the critiques (default: the policy).", panel=SL)
    rounds: int = option(4, "--rounds", "-n", help="Most critique → revision rounds per red-team prompt.", panel=SL)
    critic_dialect: str | None = option(None, "--critic-dialect", help="Dialect of the critique prompts (default: --dialect), e.g. `text` for a base-model critic.", panel=SL, choices=DIALECTS)
    early_stop: str = option("on", "--early-stop", help="`on`: critique requests end with the bundle's early-stop sentence and a prompt stops at its reply; `off`: the paper's requests, every round run.", panel=SL, choices=("on", "off"))


@dataclass
class LabelConfig:
    """RL-CAI labels: who judges the pairs, and how the constitution's items are combined."""

    feedback_model: list[str] | None = option(None, "--feedback-model", "-f", help="Model that labels the pairs (default: the policy); repeat for an ensemble.", panel=RL)
    ensemble: str = option("mean", "--ensemble", help="Several feedback models: `mean` probability or soft majority `vote`.", panel=RL, choices=("mean", "vote"))
    mode: str = option("priority", "--mode", help="`priority`: tiers decide; `sample`: one weighted principle per pair (the paper).", panel=RL, choices=("priority", "sample"))
    cot: bool = option(False, "--cot", help="The feedback model reasons before answering; labels are clamped to --clamp.", panel=RL)
    clamp: tuple[float, float] = option((0.4, 0.6), "--clamp", help="With --cot: the band labels are clamped into.", panel=RL)
    margin: float = option(0.05, "--margin", help="Priority mode: a tier decides when its verdict is further than this from 0.5.", panel=RL)
    feedback_dialect: str | None = option(None, "--feedback-dialect", help="Dialect of the comparison prompts (default: --dialect), e.g. `text` for base feedback models (the paper's setup), or `paper`: text in the layout of the paper's released comparison prompts.", panel=RL, choices=FEEDBACK_DIALECTS)

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass
class FineTuneConfig:
    """The SL fine-tune; `max_steps`, `epochs`, `train_batch_size`, `max_length` and `logging_steps` also set the RL trainers'."""

    max_steps: int = option(-1, "--max-steps", help="Steps of every trainer unless --pm-max-steps / --rl-max-steps say otherwise; -1 trains for --epochs.", panel=SFT)
    epochs: float = option(1.0, "--epochs", help="Passes over the data when the steps are -1.", panel=SFT, names=("--num-train-epochs",))
    learning_rate: float = option(2e-5, "--learning-rate", help="SFT peak learning rate.", panel=SFT, names=("--lr",))
    train_batch_size: int = option(8, "--train-batch-size", help="Rows (or completions, online) per process per step, every trainer.", panel=SFT, names=("--per-device-train-batch-size",))
    gradient_accumulation: int = option(1, "--gradient-accumulation", help="SFT steps summed per optimizer update.", panel=SFT)
    max_length: int | None = option(None, "--max-length", help="Tokens per training example; what does not fit is cut or dropped, each row named (default: the model's context window).", panel=SFT)
    logging_steps: int = option(10, "--logging-steps", help="Log the loss every this many steps, every trainer.", panel=SFT)
    report_to: list[str] | None = option(None, "--report-to", help="Experiment tracker every trainer logs to: tensorboard, wandb, trackio, mlflow, ... (repeatable; default none).", panel=SFT)
    sft_targets: str = option("final", "--sft-targets", help="`final`: train on each prompt's last revision; `all`: on every round's revision (the paper).", panel=SFT, choices=("final", "all"))
    sft_unchanged: str = option("drop", "--sft-unchanged", help="Red-team rows whose first critique found nothing to fix: `drop` them (default) or `keep` the sampled response as the target.", panel=SFT, choices=("drop", "keep"))

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass
class PreferenceConfig:
    """The preference model of the RL phase."""

    preference_base: str | None = option(None, "--preference-base", help="Model the preference model starts from (default: --model).", panel=PM)
    human_preferences: Path | None = option(None, "--human-preferences", help="JSONL of prompt/chosen/rejected human preferences mixed in (the paper's hybrid).", panel=PM)
    pm_max_steps: int | None = option(None, "--pm-max-steps", help="Preference-model steps (default: --max-steps).", panel=PM)
    pm_learning_rate: float = option(1e-5, "--pm-learning-rate", help="Preference-model peak learning rate.", panel=PM)
    pm_eval_fraction: float = option(0.1, "--pm-eval-fraction", help="Share of pairs held out for pairwise accuracy.", panel=PM)
    preference_model: str = option("auto", "--preference-model", help="`auto`: train it only when the policy reads it (rloo/grpo with --reward preference-model); `always`: train it anyway.", panel=PM, choices=("auto", "always"))

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass
class PolicyConfig:
    """The policy optimisation of the RL phase."""

    method: str = option("dpo", "--method", help=methods_help(), panel=POLICY, choices=METHODS)
    reward: str | None = option(None, "--reward", help="rloo/grpo reward: the trained `preference-model` (default) or the `labeller` itself.", panel=POLICY, choices=REWARDS)
    rl_max_steps: int | None = option(None, "--rl-max-steps", help="Policy steps (default: --max-steps).", panel=POLICY)
    rl_learning_rate: float = option(1e-6, "--rl-learning-rate", help="Policy peak learning rate.", panel=POLICY)
    beta: float = option(0.1, "--beta", help="KL strength against the starting policy.", panel=POLICY)
    tie_margin: float = option(0.1, "--tie-margin", help="DPO skips pairs whose soft label is this close to 0.5 (hard labels only).", panel=POLICY)
    dpo_labels: str = option("hard", "--dpo-labels", help="`hard`: DPO learns each pair's direction; `soft`: conservative DPO with label smoothing 1 - q per pair (every pair kept).", panel=POLICY, choices=("hard", "soft"))
    num_generations: int = option(4, "--num-generations", help="rloo/grpo: completions per prompt.", panel=POLICY)
    max_completion_length: int = option(64, "--max-completion-length", help="rloo/grpo: tokens per completion (keep it small on a CPU).", panel=POLICY)
    scale_rewards: str | None = option(None, "--scale-rewards", help="grpo: divide rewards by their `group` or `batch` spread, or `none`; default none with --reward labeller, group otherwise.", panel=POLICY, choices=("group", "batch", "none"))
    use_vllm: bool = option(False, "--use-vllm", help="rloo/grpo: generate with vLLM (trl's option; vllm must be installed).", panel=POLICY)
    vllm_mode: str = option("colocate", "--vllm-mode", help="`colocate`: vLLM in the training process; `server`: a `trl vllm-serve` at --vllm-server-url.", panel=POLICY, choices=("colocate", "server"))
    vllm_server_url: str | None = option(None, "--vllm-server-url", help="--vllm-mode server: the server's base URL.", panel=POLICY)

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass
class HardwareConfig:
    """Device, precision, memory and LoRA of every trainer (SFT, preference model, policy)."""

    dtype: str = option("auto", "--dtype", help="Compute precision, over fp32 master weights: auto (bf16 on GPUs that have it, else fp16; fp32 on a CPU), fp32, bf16, fp16.", panel=HARDWARE, choices=DTYPES)
    activation_checkpointing: bool | None = option(None, "--activation-checkpointing/--no-activation-checkpointing", help="Recompute activations in the backward pass (default: on with a GPU, off on a CPU).", panel=HARDWARE)
    device_map: str | None = option(None, "--device-map", help="accelerate placement of a model larger than one GPU (`auto`, `balanced`); one process only.", panel=HARDWARE)
    lora_r: int | None = option(None, "--lora-r", help="Train LoRA adapters of this rank instead of every weight (every trainer).", panel=HARDWARE)
    lora_alpha: int | None = option(None, "--lora-alpha", help="LoRA alpha (default: twice --lora-r).", panel=HARDWARE)
    lora_dropout: float = option(0.05, "--lora-dropout", help="LoRA dropout.", panel=HARDWARE)
    lora_target: list[str] | None = option(None, "--lora-target", help="Module names LoRA adapts; repeatable (default: every linear layer but the head).", panel=HARDWARE)
    qlora: bool = option(False, "--qlora", help="With --lora-r: load the frozen base in 4-bit NF4 (QLoRA; CUDA and bitsandbytes).", panel=HARDWARE)
    merge_lora: bool = option(False, "--merge-lora", help="Save merged full weights (the adapter goes to adapter/ beside them).", panel=HARDWARE)

    def __post_init__(self) -> None:
        check_choices(self)
        if self.lora_r is None and (self.qlora or self.merge_lora or self.lora_alpha is not None or self.lora_target):
            raise ValueError("--lora-alpha, --lora-target, --qlora and --merge-lora need --lora-r")


@dataclass
class PhaseConfig:
    """Which phase `caic train` runs."""

    phase: str = option("sl", "--phase", help="`sl` (SL-CAI), `rl` (RL-CAI from --model) or `all` (SL, then RL from the SL model).", panel=DATA, choices=PHASE_NAMES)
    data: Path | None = option(None, "--data", help="Train on the SL or RL data another run generated (a `caic generate` folder, e.g. made on a server); its bundle hash must match.", panel=DATA)

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass
class HubConfig:
    """Where `caic train` publishes its final model."""

    push_to_hub: str | None = option(None, "--push-to-hub", help="Upload the final model (the policy; the SL model for --phase sl) with its card to this Hub repository.", panel=HUB, names=("--hub-model-id",))
    hub_private: bool = option(False, "--hub-private", help="Create the --push-to-hub repository as private.", panel=HUB)


@dataclass
class TrlConfig:
    """Any field of trl's trainer configs, by name (`cai_lang.train.trl_args`)."""

    trl: list[str] | None = option(None, "--trl", help="A field of trl's trainer config, KEY=VALUE (YAML value): `weight_decay=0.01` for every stage that has it, "
                                   "or `sft.KEY`, `preference.KEY`, `policy.KEY` for one stage (policy: the --method's config); repeatable; wins over the options above.",
                                   panel=TRL)


@dataclass
class TrainConfig:
    """Everything `caic train` takes, one group per concern."""

    run: RunConfig
    phase: str = "sl"
    data: Path | None = None  # --data RUN_DIR: another run's generated data
    sl: SLConfig = field(default_factory=SLConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    sft: FineTuneConfig = field(default_factory=FineTuneConfig)
    preference: PreferenceConfig = field(default_factory=PreferenceConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    hub: HubConfig = field(default_factory=HubConfig)
    trl: TrlConfig = field(default_factory=TrlConfig)

    def __post_init__(self) -> None:
        if self.phase not in PHASE_NAMES:
            raise ValueError(f"--phase is one of {', '.join(PHASE_NAMES)}, not {self.phase!r}")

    @property
    def uses_rl(self) -> bool:
        return self.phase != "sl"


# The groups each command takes, in the order their options are listed.
GENERATE_SL = (RunConfig, SLConfig)
GENERATE_RL = (RunConfig, LabelConfig)
TRAIN = (RunConfig, PhaseConfig, SLConfig, LabelConfig, FineTuneConfig, PreferenceConfig, PolicyConfig, HardwareConfig, HubConfig, TrlConfig)
