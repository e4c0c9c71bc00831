"""The tiny random model: round-trips, chat template, assistant mask, determinism."""

from __future__ import annotations

import pytest
from engine_extra import needs_local_engine

from cai_lang.engine import tiny

pytestmark = needs_local_engine

MESSAGES = [
    {"role": "system", "content": "Be kind."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello you"},
    {"role": "user", "content": "And again?"},
    {"role": "assistant", "content": "Yes, again"},
]


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir), AutoModelForCausalLM.from_pretrained(tiny_model_dir)


def test_round_trips_through_from_pretrained(tiny_model_dir, loaded):
    tokenizer, model = loaded
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.vocab_size == len(tokenizer)
    assert 50_000 < sum(p.numel() for p in model.parameters()) < 300_000
    assert tokenizer.pad_token == "<|pad|>" and tokenizer.eos_token == "<|endoftext|>"
    assert model.config.pad_token_id == tokenizer.pad_token_id != tokenizer.eos_token_id
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert model.generation_config.eos_token_id == [tokenizer.eos_token_id, im_end]
    text = "The assistant should be helpful, honest and harmless."
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    card = (tiny_model_dir / "README.md").read_text()
    assert "random" in card and "noise" in card and "not alignment" in card


def test_special_tokens_are_single_tokens(loaded):
    tokenizer, _ = loaded
    for token in tiny.SPECIAL_TOKENS:
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1


def test_chat_template_renders_chatml_with_a_generation_prompt(loaded):
    tokenizer, _ = loaded
    text = tokenizer.apply_chat_template(MESSAGES[:2], tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
    )
    assert not tokenizer.apply_chat_template(MESSAGES[:2], tokenize=False).endswith("assistant\n")


def test_generation_markers_give_an_assistant_mask(loaded):
    tokenizer, _ = loaded
    out = tokenizer.apply_chat_template(MESSAGES, return_assistant_tokens_mask=True, return_dict=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert len(ids) == len(mask)
    masked = [i for i, m in zip(ids, mask) if m]
    # Both assistant turns, each with its end marker, and nothing else.
    assert tokenizer.decode(masked) == "Hello you<|im_end|>Yes, again<|im_end|>"
    assert mask[-1] == 0  # the newline after the last <|im_end|>


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    corpus = ["a small corpus about principles and critiques"] * 3 + [tiny.FALLBACK_TEXT]
    a = tiny.build_tiny_model(tmp_path / "a", seed=1, corpus=corpus)
    b = tiny.build_tiny_model(tmp_path / "b", seed=1, corpus=corpus)
    c = tiny.build_tiny_model(tmp_path / "c", seed=2, corpus=corpus)
    for name in ("tokenizer.json", "model.safetensors", "config.json", "generation_config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_bytes() == (c / "tokenizer.json").read_bytes()


def test_building_leaves_the_callers_rng_alone(tmp_path):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny.build_tiny_model(tmp_path / "m")  # the default corpus, whatever the package ships
    assert torch.equal(torch.rand(3), expected)


def test_default_corpus_reads_shipped_text_and_survives_its_absence(tmp_path, monkeypatch):
    from cai_lang import resources

    data, stdlib = tmp_path / "data", tmp_path / "stdlib"
    (data / "prompts").mkdir(parents=True)
    stdlib.mkdir()
    (data / "prompts" / "p.jsonl").write_text('{"prompt": "zebra quill", "tags": ["xylophone"]}\nnot json\n')
    (stdlib / "std.const").write_text("principle kindness")
    monkeypatch.setattr(resources, "data_dir", lambda: data)
    monkeypatch.setattr(resources, "stdlib_dir", lambda: stdlib)
    corpus = tiny.default_corpus()
    assert {"zebra quill", "xylophone", "not json", "principle kindness", tiny.FALLBACK_TEXT} <= set(corpus)

    def missing():
        raise FileNotFoundError("no stdlib")

    monkeypatch.setattr(resources, "data_dir", lambda: tmp_path / "nowhere")
    monkeypatch.setattr(resources, "stdlib_dir", missing)
    assert tiny.default_corpus() == [tiny.FALLBACK_TEXT]


def test_unknown_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="tiny"):
        tiny.build_tiny_model(tmp_path, size="huge")


def test_10m_size_has_about_ten_million_parameters(tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    # A corpus rich enough to fill most of the 4096-token vocabulary.
    corpus = [f"word{i} token{i * 7} piece{i % 97}" for i in range(3000)] + [tiny.FALLBACK_TEXT]
    out = tiny.build_tiny_model(tmp_path / "m", size="10m", corpus=corpus)
    config = AutoConfig.from_pretrained(out)
    model = AutoModelForCausalLM.from_config(config)
    assert 8_000_000 < sum(p.numel() for p in model.parameters()) < 12_000_000
