"""One table for every benchmark of the last `make bench`: reads the summaries the benches wrote
(`bench/results/{workflows,rules,jsonlogic}.json`), prints the table and writes it to
`bench/results/summary.md`.

Columns: Covo and the same-run baseline (a plain Temporal workflow doing the same work on the same
server, with the same runner settings; for JsonLogic, panzi-json-logic) measured in one run, their
ratio, and Open Mercato's figures, which are quoted (not measured here) from
`shared/reference/peer-measurements.md` with their date and machine."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = (
    ("workflows", "`bench/bench_workflows.py`"),
    ("rules", "`bench/bench_rules.py`"),
    ("jsonlogic", "`bench/bench_jsonlogic.py`"),
)


def main() -> int:
    lines = [
        "# `make bench`: every benchmark in one table",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} CPUs. Covo and its baseline are measured in the same "
        "run (load rounds alternate which side goes first); Open Mercato's figures are **quoted** from "
        "`peer-measurements.md` (2026-12-05 side-by-side run on a 2-core machine at load < 0.4, except the rules "
        "dry run: 2026-11-23). The machine is shared: read the load average of each part, and compare ratios "
        "within a run rather than absolute figures across runs.",
        "",
        "| figure | Covo | baseline, same run | Covo / baseline | Open Mercato (quoted) |",
        "|---|---|---|---|---|",
    ]
    notes = []
    for name, source in PARTS:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            notes.append(f"- {source}: no results (not run)")
            continue
        data = json.loads(path.read_text())
        lines += [f"| {' | '.join(str(cell) for cell in row)} |" for row in data["rows"]]
        load = data.get("load_average")
        shown = " → ".join(f"{x:.1f}" for x in load) if isinstance(load, list) else f"{load:.1f}"
        notes.append(f"- {source} ({path.name}): 1-minute load average {shown}")
    lines += ["", *notes, "", "Details: `bench/results/*.md`.", ""]
    table = "\n".join(lines)
    print(table)
    (RESULTS / "summary.md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
