"""A script's `arc.sync(provider)` and `arc.retag(...)` (the README's calls, as a nightly cron
job runs them) write progress bars into its log when stderr is not a terminal: carriage
returns and bar frames, while `arc.audit()` and every CLI command show bars only on a
terminal."""

from __future__ import annotations

import subprocess
import sys

from jobarchive.emulator import Emulator

SCRIPT = """
import sys
import jobarchive
from jobarchive import Archive
arc = Archive(sys.argv[1])
provider = jobarchive.connect(sys.argv[2], sys.argv[3])
arc.sync(provider)
arc.retag(arc.query(), additional_tags=["nightly"])
arc.audit()
arc.close()
"""


def test_library_calls_show_no_bars_when_stderr_is_not_a_terminal(tmp_path):
    with Emulator(seed_jobs=30, seed=2) as emu:
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "a"), emu.url,
                               emu.token], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "job/s" not in done.stderr, done.stderr[:300]
