"""Run folders: the append-only row writer's crash recovery and the run.json registry."""

from __future__ import annotations

import json

import pytest

from cai_lang.train.run.folder import RowWriter, RunError, read_rows
from cai_lang.train.run.record import RunRecord


def test_rows_are_whole_lines_and_a_reopened_writer_skips_known_ids(tmp_path):
    path = tmp_path / "rows.jsonl"
    with RowWriter(path) as writer:
        assert writer.append({"id": "a", "text": "first\nline"})
        assert writer.append({"id": "b"})
        assert not writer.append({"id": "a"})
    assert path.read_text(encoding="utf-8").count("\n") == 2
    with RowWriter(path) as writer:
        assert writer.written == {"a", "b"} and "a" in writer and len(writer) == 2
        assert not writer.append({"id": "b", "changed": True})
        assert writer.append({"id": "c"})
    assert [r["id"] for r in read_rows(path)] == ["a", "b", "c"]


def test_a_torn_last_line_is_dropped_and_that_row_is_written_again(tmp_path):
    path = tmp_path / "rows.jsonl"
    good = json.dumps({"id": "a"}) + "\n"
    path.write_text(good + '{"id": "b", "text": "cut sho', encoding="utf-8")
    assert [r["id"] for r in read_rows(path)] == ["a"]
    with RowWriter(path) as writer:
        assert writer.dropped_torn_line and writer.written == {"a"}
        assert path.read_text(encoding="utf-8") == good
        writer.append({"id": "b"})
    assert [r["id"] for r in read_rows(path)] == ["a", "b"]


def test_a_complete_row_without_its_newline_counts_as_torn(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}', encoding="utf-8")
    with RowWriter(path) as writer:
        assert writer.written == {"a"}
        writer.append({"id": "b"})
    assert path.read_text(encoding="utf-8") == '{"id": "a"}\n{"id": "b"}\n'


def test_damage_before_the_last_line_is_refused(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a"}\ngarbage\n{"id": "c"}\n', encoding="utf-8")
    with pytest.raises(RunError, match="line 2"):
        RowWriter(path)
    path.write_text('{"no_id": 1}\n', encoding="utf-8")
    with pytest.raises(RunError, match="id"):
        RowWriter(path)


def test_every_append_is_flushed_and_fsynced(tmp_path, monkeypatch):
    import os

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    with RowWriter(tmp_path / "rows.jsonl") as writer:
        writer.append({"id": "a"})
        writer.append({"id": "b"})
        # Readable by another process before the writer closes.
        assert len(read_rows(tmp_path / "rows.jsonl")) == 2
    assert len(synced) == 2


def test_run_record_round_trips_with_commands_versions_and_relative_outputs(tmp_path):
    record = RunRecord.open(tmp_path / "run")
    assert not record.exists
    record.start_command(["caic", "generate", "sl"])
    record.set("seed", 7)
    record.add_output("sl_data", tmp_path / "run" / "sl_data.jsonl", "dataset", rows=3)
    record.add_step("sl-generate", rows=3)
    record.finish_command()
    record.save()
    again = RunRecord.open(tmp_path / "run")
    data = json.loads((tmp_path / "run" / "run.json").read_text())
    assert data["seed"] == 7 and data["versions"]["trl"] and data["versions"]["python"]
    assert data["outputs"]["sl_data"]["path"] == "sl_data.jsonl" and data["outputs"]["sl_data"]["rows"] == 3
    command = data["commands"][0]
    assert command["argv"] == ["caic", "generate", "sl"] and command["status"] == "done"
    assert command["steps"][0]["step"] == "sl-generate"
    assert again.output_path("sl_data") == tmp_path / "run" / "sl_data.jsonl"
    assert again.output_path("missing") is None


def test_resuming_with_different_settings_names_what_changed(tmp_path):
    record = RunRecord.open(tmp_path)
    record.set("sl_generation", {"model": "a", "seed": 1})
    record.check_same("sl_generation", {"model": "a", "seed": 1})
    with pytest.raises(RunError, match="seed: was 1, now 2"):
        record.check_same("sl_generation", {"model": "a", "seed": 2})


def test_a_foreign_run_json_is_refused(tmp_path):
    (tmp_path / "run.json").write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(RunError, match="not a caic run record"):
        RunRecord.open(tmp_path)
    (tmp_path / "run.json").write_text("{", encoding="utf-8")
    with pytest.raises(RunError, match="cannot read"):
        RunRecord.open(tmp_path)
