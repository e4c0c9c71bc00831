"""The progress display: plain lines with rate and ETA off a terminal, a live bar on one, and trainer logs as short lines."""

from __future__ import annotations

import io

from rich.console import Console

from cai_lang.cli.progress import ProgressReporter
from cai_lang.train.progress import log_line, reporting


def _reporter(terminal: bool) -> tuple[ProgressReporter, io.StringIO]:
    out = io.StringIO()
    return ProgressReporter(Console(file=out, force_terminal=terminal, width=120, highlight=False)), out


def test_off_a_terminal_progress_is_plain_lines_at_each_tenth():
    reporter, out = _reporter(terminal=False)
    reporter.phase("generating")
    reporter.start(40, 0)
    for _ in range(40):
        reporter.advance(1)
    reporter.stop()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("caic: prompts")]
    assert 9 <= len(lines) <= 11 and lines[-1].startswith("caic: prompts 40/40")
    assert "/s" in lines[0] and "left" in lines[0] and "\x1b" not in out.getvalue()


def test_a_resumed_run_counts_its_rate_from_what_it_did_now():
    reporter, out = _reporter(terminal=False)
    reporter.start(10, 8)
    reporter.advance(2)
    assert "caic: prompts 10/10" in out.getvalue()


def test_on_a_terminal_a_live_bar_shows_count_rate_and_eta():
    reporter, out = _reporter(terminal=True)
    reporter.train_start("SFT", 4)
    for step in range(1, 5):
        reporter.train_step(step)
        reporter.train_log(f"SFT step {step}/4: {log_line({'loss': 1.0 / step, 'learning_rate': 1e-5})}")
    reporter.train_stop()
    text = out.getvalue()
    assert "SFT steps" in text and "4/4" in text and "ETA" in text and "SFT step 2/4: loss 0.5, lr 1e-05" in text


def test_trainer_logs_become_short_lines():
    assert log_line({"loss": 0.6931, "grad_norm": 0.01, "learning_rate": 2e-05, "epoch": 0.5, "entropy": 6.9}) == "loss 0.693, grad norm 0.01, lr 2e-05"
    assert log_line({"train_runtime": 1.234, "train_loss": 0.69, "train_samples_per_second": 3}) == "done in 1.2 s, mean loss 0.69"
    assert log_line({"epoch": 1}) == ""


def test_the_active_reporter_is_scoped_to_the_command():
    import cai_lang.train.progress as progress

    reporter, _ = _reporter(terminal=False)
    with reporting(reporter):
        assert progress._active is reporter
    assert progress._active is None


def test_engine_work_inside_a_chunk_moves_the_bar_but_not_the_count():
    reporter, out = _reporter(terminal=True)
    reporter.start(8, 0)
    reporter.work(10, 40, 8)  # a quarter of the chunk's engine inputs: about two prompts' worth
    task = reporter.progress.tasks[0]
    assert task.completed == 2.0 and task.fields["exact"] == 0 and task.fields["inside"] == "10/40"
    reporter.work(5, 60, 8)  # a later phase raised the total: the bar does not go back
    assert reporter.progress.tasks[0].completed == 2.0
    reporter.advance(8)
    task = reporter.progress.tasks[0]
    assert task.completed == 8 and task.fields["exact"] == 8 and task.fields["inside"] == ""
    reporter.stop()
    assert "8/8" in out.getvalue()


def test_off_a_terminal_engine_work_prints_a_line_every_few_seconds(monkeypatch):
    import cai_lang.cli.progress as progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    reporter, out = _reporter(terminal=False)
    reporter.start(32, 0)
    for done in range(1, 41):  # forty batch reports, one a second
        clock[0] += 1.0
        reporter.work(done, 40, 32)
    reporter.advance(32)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("caic: prompts")]
    assert len(lines) == 40 // int(progress.PLAIN_WORK_S) + 1
    assert lines[0].startswith("caic: prompts 0/32 (chunk: 5/40 engine inputs)") and "/s" in lines[0] and "left" in lines[0]
    assert lines[-1].startswith("caic: prompts 32/32,")
