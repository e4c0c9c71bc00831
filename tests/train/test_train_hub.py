"""`--push-to-hub`: refused up front when the Hub is off or the repository id is not one; otherwise the final model goes up
with its card pointed at the repository (the Hub client is replaced here: nothing leaves the machine)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()


@pytest.mark.parametrize("repo, words", [("me/trainbot", "HF_HUB_OFFLINE=1 is set"), ("not a repo!", "not a Hub repository id")])
def test_a_push_that_cannot_happen_is_refused_before_training(tiny_model, constitution_file, tmp_path, monkeypatch, repo, words):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(app, ["train", str(constitution_file), "--model", str(tiny_model), "-o", str(tmp_path / "run"), "--push-to-hub", repo])
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "sl_data.jsonl").exists()


def test_push_model_uploads_the_folder_with_the_card_pointing_at_the_repository(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    from cai_lang.train.hub import push_model

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload", kwargs["repo_id"], kwargs))
            return "https://huggingface.co/me/trainbot/commit/abc"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    folder = tmp_path / "rl_policy"
    folder.mkdir()
    (folder / "README.md").write_text(f'chat = pipeline("text-generation", model="{folder}")\n')
    url = push_model(folder, "me/trainbot", private=True)
    assert url.endswith("/commit/abc")
    assert calls[0] == ("create", "me/trainbot", {"private": True, "exist_ok": True})
    assert calls[1][2]["folder_path"] == str(folder) and "checkpoint-*" in calls[1][2]["ignore_patterns"]
    assert 'model="me/trainbot"' in (folder / "README.md").read_text()
