"""The constitution as a judge and a reward for other engines (verl, OpenRLHF, trl), in process or over HTTP.

`Judge` (this package's `core`) scores one response or a group of responses
to one prompt with the labeller and aggregation `caic train` uses
(`cai_lang.train.rl.rewards`); `server` serves it over HTTP (`protocol` parses its requests)
(`caic serve reward`), `clients` holds the verl reward function and the
OpenRLHF and trl adapters, `export` writes data in the layouts those
engines read. See docs/distributed.md.
"""

from __future__ import annotations

from cai_lang.judge.core import Judge, JudgeOptions

__all__ = ["Judge", "JudgeOptions"]
