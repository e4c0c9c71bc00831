"""A small OpenAI-compatible server of the tests' own, on a transformers model, that returns prompt log-probabilities.

`transformers serve` has no echo or prompt log-probabilities, and vLLM does
not run on the CPU test machines, so the exact-scoring route is tested
against this: `POST /v1/completions` with `echo: true`, `logprobs` and
`max_tokens: 0` answers, for a prompt given as token ids (or text), the
log-probability of every prompt token given the ones before it, as vLLM
does (the first token has none). `POST /v1/chat/completions` generates up
to two tokens greedily and returns each one's top alternatives, the chat
endpoint's view that `HTTPBackend` falls back to. `token_ids=False` makes
the server refuse token-id prompts with a 400, as a server without them
would. Requests are bounded (64 sequences of 4096 tokens); serve it with
`cai_lang.judge.server.AppThread`, which listens on 127.0.0.1 and always stops.
"""

from __future__ import annotations

from typing import Any

MAX_SEQUENCES = 64
MAX_TOKENS = 4096


def create_logprob_app(model_dir: str, *, name: str = "tiny", token_ids: bool = True):
    import torch
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    app = FastAPI()
    app.state.requests = 0

    def refuse(message: str, status: int = 400):
        return JSONResponse({"error": {"message": message}}, status_code=status)

    def prompt_logprobs(ids: list[int]) -> list[float | None]:
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        return [None] + [float(logprobs[t - 1, ids[t]]) for t in range(1, len(ids))]

    @app.post("/v1/completions")
    async def completions(body: dict[str, Any]):
        app.state.requests += 1
        if body.get("model") != name:
            return refuse(f"model {body.get('model')!r} is not served here", 404)
        if not body.get("echo") or body.get("max_tokens") != 0 or body.get("logprobs") is None:
            return refuse("this server only scores prompts: echo=true, logprobs and max_tokens=0")
        prompt = body.get("prompt")
        sequences = prompt if isinstance(prompt, list) and prompt and isinstance(prompt[0], (list, str)) else [prompt]
        if len(sequences) > MAX_SEQUENCES:
            return refuse(f"at most {MAX_SEQUENCES} prompts per request")
        choices = []
        for index, sequence in enumerate(sequences):
            if isinstance(sequence, list):
                if not token_ids:
                    return refuse("'prompt' must be text on this server")
                ids = [int(t) for t in sequence]
            elif isinstance(sequence, str):
                ids = tokenizer(sequence, add_special_tokens=body.get("add_special_tokens", True))["input_ids"]
            else:
                return refuse("'prompt' must be text, token ids, or a list of either")
            if not ids or len(ids) > MAX_TOKENS:
                return refuse(f"a prompt must have 1 to {MAX_TOKENS} tokens")
            tokens = [tokenizer.decode([t]) for t in ids]
            offsets, at = [], 0
            for token in tokens:
                offsets.append(at)
                at += len(token)
            choices.append({"index": index, "text": "".join(tokens), "finish_reason": "length",
                            "logprobs": {"tokens": tokens, "token_logprobs": prompt_logprobs(ids), "text_offset": offsets}})
        return {"object": "text_completion", "model": name, "choices": choices}

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]):
        app.state.requests += 1
        if body.get("model") != name:
            return refuse(f"model {body.get('model')!r} is not served here", 404)
        ids = tokenizer.apply_chat_template(body["messages"], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
        top = int(body.get("top_logprobs") or 0)
        content, text = [], ""
        for _ in range(min(int(body.get("max_tokens") or 1), 2)):
            with torch.inference_mode():
                logprobs = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, -1].float(), dim=-1)
            values, indices = logprobs.topk(max(top, 1))
            chosen = int(indices[0])
            content.append({"token": tokenizer.decode([chosen]), "logprob": float(values[0]),
                            "top_logprobs": [{"token": tokenizer.decode([int(i)]), "logprob": float(v)} for v, i in zip(values, indices)]})
            text += tokenizer.decode([chosen])
            ids = list(ids) + [chosen]
        return {"object": "chat.completion", "model": name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length",
                             "logprobs": {"content": content} if body.get("logprobs") else None}]}

    return app
