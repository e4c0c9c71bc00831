"""`caic train --push-to-hub REPO`: the run's final model, with its card, uploaded to the Hugging Face Hub.

`check_push` runs with the other settings checks, before anything slow: a
repository id the Hub would refuse, or the Hub switched off
(`HF_HUB_OFFLINE=1`), is a clear error then, not after an hour of training.
`push_model` uploads one model folder (the RL policy of `--phase rl|all`,
the SL model of `--phase sl`): the card's usage snippet is pointed at the
repository first, and checkpoints are left behind. The repository and the
commit are recorded in run.json as the `hub` output.
"""

from __future__ import annotations

import os
from pathlib import Path

from cai_lang.errors import CaicError
from cai_lang.files import write_atomic
from cai_lang.train.modelcard import CARD_FILE

OFFLINE_VALUES = ("1", "on", "yes", "true")
LEFT_BEHIND = ["checkpoint-*", "checkpoint-*/**", "*.tmp"]


class HubError(CaicError, ValueError):
    """A push that cannot happen (offline, a bad repository id) or that the Hub refused."""


def hub_offline() -> bool:
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES or bool(constants.HF_HUB_OFFLINE)


def check_push(repo: str | None) -> None:
    if repo is None:
        return
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise HubError(f"--push-to-hub {repo}: not a Hub repository id ({exc})") from exc
    if hub_offline():
        raise HubError(f"--push-to-hub {repo} needs the Hugging Face Hub, but HF_HUB_OFFLINE=1 is set: unset it to push, "
                       "or train offline and upload the model folder later (`hf upload REPO FOLDER`)")


def push_model(folder: Path, repo: str, *, private: bool = False, message: str | None = None) -> str:
    """Upload `folder` to `repo` (created if missing); returns the commit URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    check_push(repo)
    folder = Path(folder)
    card = folder / CARD_FILE
    if card.is_file():
        # The usage snippet loaded the local folder; on the Hub it loads the repository.
        write_atomic(card, card.read_text(encoding="utf-8").replace(f'"{folder}"', f'"{repo}"'))
    api = HfApi()
    try:
        api.create_repo(repo, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo, commit_message=message or f"caic: upload {folder.name}", ignore_patterns=LEFT_BEHIND)
    except (HfHubHTTPError, OSError) as exc:
        raise HubError(f"pushing {folder} to {repo} failed: {exc}") from exc
    return str(getattr(commit, "commit_url", commit))


def push_final_model(run, hub, result, reporter) -> str:
    """`--push-to-hub`: the policy (or, after `--phase sl`, the SL model) with its card, recorded as run.json's `hub`."""
    folder = run.layout.rl_policy if result.rl is not None and result.rl.policy is not None else run.layout.sl_model
    reporter.phase(f"pushing {folder} to the Hub as {hub.push_to_hub}")
    content_hash = run.record.get("content_hash") or ""
    url = push_model(folder, hub.push_to_hub, private=hub.hub_private, message=f"caic: {folder.name} trained towards bundle {content_hash[:12]}")
    run.record.add_output("hub", folder, "hub_upload", repo=hub.push_to_hub, commit=url)
    run.save()
    return url
