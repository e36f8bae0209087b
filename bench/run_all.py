"""Runs every benchmark in turn; each prints its figures and the command that reproduces it.

.venv/bin/python bench/run_all.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in ("bench_service.py", "bench_intents.py", "bench_kb.py", "bench_entities.py"):
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
