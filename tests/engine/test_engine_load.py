"""load_backend: which backend a spec picks, and failing fast on bad specs."""

from __future__ import annotations

import socket

import pytest
from engine_extra import needs_local_engine

from cai_lang.engine import BackendNotFoundError, hub_id_problem, load_backend


def _no_network(*args, **kwargs):
    # Failing at once means deciding without the network: a connection attempt fails the test.
    raise AssertionError("this check must not open a connection")


def test_urls_go_to_the_http_backend_without_a_request():
    from cai_lang.engine.http import HTTPBackend

    # Port 9 (discard) has no server: building the backend must not call it.
    backend = load_backend("http://127.0.0.1:9", model="m", api_key="k")
    assert isinstance(backend, HTTPBackend)
    assert backend.base_url == "http://127.0.0.1:9/v1" and backend.model_id == "m"
    assert load_backend("https://example.invalid/v1/", model="m").base_url == "https://example.invalid/v1"


def test_urls_need_a_model_name():
    with pytest.raises(ValueError, match="model="):
        load_backend("http://127.0.0.1:9")


def test_a_folder_goes_to_the_local_backend(tiny_model_dir):
    from cai_lang.engine.local import LocalBackend

    backend = load_backend(tiny_model_dir, device="cpu", batch_size=2)
    assert isinstance(backend, LocalBackend)
    assert backend.model_id == str(tiny_model_dir) and backend.batch_size == 2


@pytest.mark.parametrize(
    "spec",
    [
        "/no/such/model",
        "./models/missing",
        "../missing-model",
        "~/definitely-not-a-model-folder-caic",
        "a/b/c",
        "model.safetensors",
        "bad name with spaces",
        "",
    ],
)
def test_impossible_specs_fail_at_once(spec, monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    with pytest.raises(BackendNotFoundError, match="not a Hub id"):
        load_backend(spec)


def test_a_missing_subfolder_of_an_existing_folder_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    assert "models/ exists" in hub_id_problem("models/tiny")
    with pytest.raises(BackendNotFoundError, match="models/ exists"):
        load_backend("models/tiny")


def test_files_and_folders_without_config_are_refused(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(BackendNotFoundError, match="is a file"):
        load_backend(tmp_path / "weights.bin")
    with pytest.raises(BackendNotFoundError, match="no config.json"):
        load_backend(tmp_path)


def test_plausible_hub_ids_pass_the_shape_check():
    for spec in ("gpt2", "Qwen/Qwen2.5-0.5B-Instruct", "meta-llama/Llama-3.2-1B", "org_x/model.v2"):
        assert hub_id_problem(spec) is None, spec


@needs_local_engine
def test_uncached_hub_id_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    with pytest.raises(BackendNotFoundError, match="HF_HUB_OFFLINE"):
        load_backend("caic-test-org/no-such-model-anywhere")
