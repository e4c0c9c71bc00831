"""Builds the tiny random models that prove the pipeline without a download.

`build_tiny_model` trains a byte-level BPE tokenizer on local text (a given
corpus, else the prompt sets and standard constitutions shipped with caic,
plus a built-in paragraph so it works from a bare checkout), wraps it as a
`PreTrainedTokenizerFast` with a ChatML chat template whose assistant turns
are marked with `{% generation %}` (so trl's `assistant_only_loss=True` can
build its mask), and saves a randomly initialised `LlamaForCausalLM` beside it
with `save_pretrained`. The result loads with `from_pretrained` like any Hub
model. Its weights are random: it emits noise and exists to exercise
generation, training and evaluation end to end on a CPU in seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cai_lang.files import write_atomic

PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (PAD_TOKEN, EOS_TOKEN, IM_START, IM_END)

# Newlines are written as '\n' string literals so that Jinja's whitespace
# control cannot eat them. The `generation` block covers the assistant's
# content and its <|im_end|>, because the model must learn to emit the end
# marker to stop; the role header is prompt, not completion.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Always part of the default corpus, so a bare checkout (no prompt sets, no
# standard constitutions) still trains a tokenizer with real merges.
FALLBACK_TEXT = """\
The assistant should be helpful, honest and harmless. A constitution is a short
list of principles. Each principle says what a good answer does, and the model
is asked to critique its own answer against a principle, then to revise it.
Critique: the response gives dangerous instructions without a warning.
Revision: here is a safer answer that explains the risks and points to help.
Which of these responses is more helpful, honest and harmless? (A) or (B)?
The answer is (A). The answer is (B). Options: (A) (B) (C) (D).
user assistant system: Please explain how photosynthesis works in simple terms.
Plants take in light, water and carbon dioxide and make sugar and oxygen.
Write a short poem about the sea. The waves roll in and out under the moon.
How do I bake bread? Mix flour, water, salt and yeast; knead, rise, and bake.
I cannot help with that request, but I can suggest a safer alternative.
Numbers 0 1 2 3 4 5 6 7 8 9 10 100 and punctuation . , ; : ! ? ' " ( ) [ ] { } -
"""


@dataclass(frozen=True)
class TinySize:
    """Shape of one tiny model size: the BPE vocabulary target and Llama dims."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int


SIZES: dict[str, TinySize] = {
    # About 0.25 M parameters: generation at thousands of tokens/s on 2 cores.
    "tiny": TinySize(1024, 64, 2, 4, 256),
    # About 10 M parameters (fewer when a small corpus caps the vocabulary).
    "10m": TinySize(4096, 256, 8, 8, 1024),
}
MAX_POSITIONS = 2048


def default_corpus() -> list[str]:
    """Text shipped with caic: prompt sets, standard constitutions, fallback."""
    from cai_lang import resources

    texts: list[str] = []
    prompts = resources.data_dir() / "prompts"
    if prompts.is_dir():
        for path in sorted(prompts.glob("*.jsonl")):
            texts.extend(_jsonl_strings(path))
    try:
        stdlib = resources.stdlib_dir()
    except FileNotFoundError:
        stdlib = None
    if stdlib is not None:
        for path in sorted(stdlib.glob("*.const")):
            texts.append(path.read_text(encoding="utf-8"))
    texts.append(FALLBACK_TEXT)
    return texts


def _jsonl_strings(path: Path) -> Iterable[str]:
    # Prompt files may use any schema; every string value is useful text.
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            yield line
            continue
        yield from _strings_in(record)


def _strings_in(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


def train_tokenizer(corpus: list[str], vocab_size: int):
    """A byte-level BPE `PreTrainedTokenizerFast` with the ChatML template."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    # trim_offsets=False keeps a token's leading space inside its offsets, so
    # the assistant mask (built from offsets) covers every completion byte.
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=list(SPECIAL_TOKENS),
        # Every byte is in the vocabulary, so any text tokenises.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens=[IM_START, IM_END],
        model_max_length=MAX_POSITIONS,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    out_dir: str | Path,
    size: str = "tiny",
    seed: int = 0,
    corpus: list[str] | None = None,
) -> Path:
    """Train a tokenizer, initialise a random Llama, save both to `out_dir`.

    Deterministic: the same corpus, size and seed give byte-identical files.
    Returns the folder, ready for `from_pretrained` or `load_backend`.
    """
    if size not in SIZES:
        raise ValueError(f"unknown tiny model size {size!r}; choose one of {sorted(SIZES)}")
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    shape = SIZES[size]
    texts = list(corpus) if corpus is not None else default_corpus()
    tokenizer = train_tokenizer(texts, shape.vocab_size)
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    im_end_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_attention_heads,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=False,
    )
    # fork_rng keeps the caller's global torch RNG untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        # A chat turn ends with <|im_end|>, a plain document with <|endoftext|>.
        eos_token_id=[eos_id, im_end_id],
        pad_token_id=pad_id,
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=64,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    write_atomic(out / "README.md", _model_card(size, seed, n_params, len(tokenizer)))
    return out


def _model_card(size: str, seed: int, n_params: int, vocab: int) -> str:
    return f"""\
---
library_name: transformers
tags: [caic, random-weights, test-fixture]
---

# caic tiny model ({size})

**This model is random. Its text is noise. It proves the pipeline, not alignment.**

Built by `caic tiny-model` (`cai_lang.engine.tiny.build_tiny_model`) with seed {seed},
without any download: a byte-level BPE tokenizer ({vocab} tokens) trained on text
shipped with caic, and a `LlamaForCausalLM` with {n_params:,} randomly initialised
parameters.

Use it to check that generation, data generation, training and evaluation run
end to end on a CPU in seconds. Nothing it says, before or after training on a
few hundred examples, tells you anything about how well a constitution works.

Chat format: ChatML (`<|im_start|>role\\n...<|im_end|>`); assistant turns are
marked with `{{% generation %}}` so `assistant_only_loss=True` works in trl.
Generation stops at `<|im_end|>` or `<|endoftext|>`.
"""
