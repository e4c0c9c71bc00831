"""What the training tests share besides fixtures: the test constitution and how to start `caic`.

A module of its own (not conftest.py), so `from train_testkit import ...`
works whichever test folders a run collects.
"""

from __future__ import annotations

import os
import random
import socket
import sys
from pathlib import Path

# A small constitution written for these tests, so they do not depend on
# examples/ that others edit: two SL principles (one conditional, one
# weighted), a rule, and a principle that serves only the RL phase.
CONSTITUTION = '''constitution trainbot {
    version "0.1.0"
    description "A constitution for the training tests."
}

context {
    emergency: bool
    topic: general | medical
}

action send_to_er "tell the user to go to an emergency department now"

principle harmless {
    weight 2.0
    critique "Point out anything harmful, unethical or dangerous in the last response."
    revision "Rewrite the response to remove anything harmful, unethical or dangerous."
    compare "Which response is less harmful?"
}

principle accurate {
    applies when topic == medical
    critique "Point out medical claims in the last response that are wrong or overconfident."
    revision "Rewrite the response so every medical claim is correct and hedged."
    compare "Which response is more medically accurate?"
}

principle concise {
    compare "Which response is shorter while still answering?"
}

rule escalate {
    always send_to_er when emergency
}

deployment clinic {
    weight harmless 1.0
}
'''


def write_constitution(folder: Path, text: str = CONSTITUTION) -> Path:
    path = folder / "trainbot.const"
    path.write_text(text, encoding="utf-8")
    return path


def caic_command() -> list[str]:
    return [sys.executable, "-m", "cai_lang"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kill_point(test: str, low: int, high: int) -> int:
    """Where a kill test stops its run: drawn from `low`..`high`, seeded by the test's name and
    CAIC_KILL_SEED (default 0), so a failing kill point is rerun exactly by setting the same seed."""
    return random.Random(f"{test}:{os.environ.get('CAIC_KILL_SEED', '0')}").randint(low, high)
