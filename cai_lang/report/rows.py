"""The training page's account of rows: per trainer, how many it was given and what it did with them.

Read from run.json's `row_ledger` (counts taken from each trainer's own
processed dataset before it trained, `cai_lang.train.ledger`) and the
ledger files beside it, so the page names every row a trainer cut or
dropped. Nothing here recomputes a count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cai_lang.report.page import Section

NAMED = 20  # rows named on the page per trainer; the ledger file holds all


def rows_section(section: Section, run_dir: Path, record: Any) -> None:
    ledgers = record.get("row_ledger") or {}
    if not ledgers:
        section.paragraph("No trainer ran in this folder, or it ran before caic kept a row ledger.", "muted")
        return
    table = []
    for key, s in ledgers.items():
        limit = f"{s.get('max_length')} ({s.get('max_length_from')})" if s.get("max_length") else "none"
        table.append([key, s.get("rows"), s.get("trained"), s.get("kept"), s.get("truncated"), s.get("dropped"),
                      s.get("target_tokens_lost"), s.get("longest_row"), limit, s.get("file")])
    section.table(["trainer", "rows given", "rows trained", "kept whole", "truncated", "dropped", "target tokens lost",
                   "longest row (tokens)", "max length", "ledger"], table)
    for key, s in ledgers.items():
        cut = _cut_rows(run_dir / str(s.get("file") or ""))
        if cut:
            more = f" (and {len(cut) - NAMED} more in {s.get('file')})" if len(cut) > NAMED else ""
            section.paragraph(f"{key}: " + "; ".join(f"{r['id']} {r['fate']}: {r.get('reason', '')}" for r in cut[:NAMED]) + more)


def _cut_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("fate") in ("truncated", "dropped"):
            rows.append(row)
    return rows
