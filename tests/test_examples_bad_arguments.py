"""The examples refuse option values they cannot use with argparse's one-line usage error
(exit 2) before starting anything: `--seed-jobs 0` (an empty history) ended each of them in a
traceback (NaTType does not support strftime, list index out of range, index out of
bounds), and `reproducibility_audit.py --sample -1` or `--threshold 2` in ValueErrors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(("name", "args", "option"), [
    ("historical_analysis.py", ["--seed-jobs", "0"], "--seed-jobs"),
    ("reproducibility_audit.py", ["--seed-jobs", "0"], "--seed-jobs"),
    ("bulk_retag.py", ["--seed-jobs", "0"], "--seed-jobs"),
    ("bulk_retag.py", ["--seed-jobs", "many"], "--seed-jobs"),
    ("reproducibility_audit.py", ["--sample", "-1"], "--sample"),
    ("reproducibility_audit.py", ["--threshold", "2"], "--threshold"),
])
def test_a_bad_value_is_a_usage_error(name, args, option):
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"{name}: error: argument {option}")
    assert not proc.stdout
