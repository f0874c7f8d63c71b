"""``python -m bench``: the benchmarks (see bench/__main__.py)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Beside the app's other files (CONNECTIT_VAR_DIR, as connectit/settings.py reads it), so that
# two runs with their own var directories (CI runs the SQLite and PostgreSQL suites at once)
# never share scratch databases, logs or results.
OUT_DIR = Path(os.environ.get("CONNECTIT_VAR_DIR") or REPO / "var").resolve() / "bench"
