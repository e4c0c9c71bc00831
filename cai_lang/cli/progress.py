"""One progress display for `caic generate`, `caic train` and `caic eval`: prompts and training steps, with rate and ETA.

On a terminal it is a rich `Progress`: a line per phase printed above one
live bar (prompts written, or the trainer's steps) showing done/total, the
rate and the time left, with each training log as a short line above it.
Anywhere else (a log file, CI) it prints plain lines instead: each phase,
and the bar's state at every tenth of the way or every 30 seconds,
whichever comes first, so a log shows progress without control characters.
Between prompt counts a data step reports the engine inputs of its current
chunk (`work`): the bar, the rate and the ETA then move by the share of the
chunk's uncounted prompts that much work stands for, while the count shown
stays the exact number of prompts written; off a terminal such a line is
printed at most every `PLAIN_WORK_S` seconds.
The training half is fed by `cai_lang.train.progress.StepProgress`.
"""

from __future__ import annotations

import time

PLAIN_EVERY_S = 30.0
PLAIN_WORK_S = 5.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class ProgressReporter:
    """The `Reporter` of the CLI (`phase`, `start`, `advance`, `stop`), plus training steps (`train_*`)."""

    def __init__(self, console=None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.live = self.console.is_terminal
        self.progress = None
        self.task = None
        self.label, self.total, self.done, self.started, self.base = "", 0, 0, 0.0, 0
        self.last_plain, self.last_share = 0.0, -1
        self.partial, self.inside = 0.0, ""  # estimated prompts' worth done in the chunk; "12/40 engine inputs"

    # ------------------------------------------------------------ lines
    def phase(self, text: str) -> None:
        self.console.print(f"[bold]caic:[/] {text}")

    def _plain(self, force: bool = False) -> None:
        now = time.monotonic()
        share = int(10 * self.done / self.total) if self.total else 10
        if not force and share == self.last_share and now - self.last_plain < PLAIN_EVERY_S:
            return
        self.last_plain, self.last_share = now, share
        elapsed = now - self.started
        made = self.done + self.partial - self.base
        rate = made / elapsed if elapsed > 0 and made > 0 else None
        left = (self.total - self.done - self.partial) / rate if rate else None
        self.console.print(
            f"caic: {self.label} {self.done}/{self.total}" + (f" (chunk: {self.inside} engine inputs)" if self.inside else "")
            + (f", {rate:.2f}/s" if rate else "") + f", {_duration(elapsed)} elapsed" + (f", about {_duration(left)} left" if left is not None and self.done < self.total else ""),
            markup=False,
        )

    # ------------------------------------------------------------ one bar
    def _open(self, label: str, total: int, completed: int) -> None:
        self.stop()
        self.label, self.total, self.done, self.base, self.started = label, max(total, 0), completed, completed, time.monotonic()
        self.last_plain, self.last_share = self.started, -1
        self.partial, self.inside = 0.0, ""
        if not self.live:
            return
        from rich.progress import BarColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.text import Text

        class Count(ProgressColumn):
            # The exact count, not the estimate the bar is drawn from.
            def render(self, task) -> Text:
                inside = task.fields.get("inside")
                return Text(f"{task.fields.get('exact', int(task.completed))}/{int(task.total or 0)}" + (f" ({inside})" if inside else ""))

        class Rate(ProgressColumn):
            def render(self, task) -> Text:
                speed = task.finished_speed or task.speed
                return Text("" if speed is None else f"{speed:.2f}/s")

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), Count(), TaskProgressColumn(), Rate(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(label, total=total, completed=completed)

    def _to(self, done: int) -> None:
        self.done, self.partial, self.inside = done, 0.0, ""
        if self.progress is not None:
            self.progress.update(self.task, completed=done, exact=done, inside="")
        elif self.total:
            self._plain(force=done >= self.total)

    def start(self, total: int, completed: int) -> None:
        self._open("prompts", total, completed)

    def begin(self, label: str, total: int) -> None:
        """A bar of `total` inputs named `label` (`caic eval`'s answers and critiques)."""
        self._open(label, total, 0)

    def advance(self, n: int) -> None:
        self._to(self.done + n)

    def work(self, done: int, total: int, pending: int) -> None:
        # Never backwards inside a chunk: a later phase (labelling after sampling) may raise `total`.
        self.partial = max(self.partial, pending * done / total if total else 0.0)
        self.inside = f"{done}/{total}"
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done + self.partial, exact=self.done, inside=self.inside)
        elif self.total and time.monotonic() - self.last_plain >= PLAIN_WORK_S:
            self._plain(force=True)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    # ------------------------------------------------------------ training steps
    def train_start(self, name: str, total_steps: int) -> None:
        self._open(f"{name} steps", total_steps, 0)

    def train_step(self, step: int) -> None:
        self._to(step)

    def train_log(self, line: str) -> None:
        self.console.print(f"caic: {line}", markup=False)

    def train_stop(self) -> None:
        self.stop()
