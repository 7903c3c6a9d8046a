"""Records the Temporal histories the replay test keeps in tests/workflows/histories/.

Runs `test_live_histories_replay` (an instance of every step type, run to its end through the API
on the test stack) with COVO_RECORD_HISTORIES=1, which writes one `<scenario>.json` per workflow
(`history.to_json()`). `test_recorded_histories_replay` then replays them on every test run.

Usage: ``.venv/bin/python bench/record_histories.py``. Re-record only on purpose: a saved history
stands for instances started by older code, which the new code must still replay. Keep a copy under
another name if such instances may still be running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    env = dict(os.environ, COVO_RECORD_HISTORIES="1")
    command = [sys.executable, "-m", "pytest", "tests/workflows/test_replay.py::test_live_histories_replay", "-q"]
    code = subprocess.call(command, cwd=ROOT, env=env)
    if code == 0:
        written = sorted((ROOT / "tests" / "workflows" / "histories").glob("*.json"))
        print(f"{len(written)} histories in tests/workflows/histories/")
    return code


if __name__ == "__main__":
    sys.exit(main())
