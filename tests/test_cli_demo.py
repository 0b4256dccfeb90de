"""The demo's closing hints can be typed as printed: right after the README's setup the
command is `.venv/bin/jobarchive` (the venv is not activated), so the hints say that."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "jobarchive"


def _demo(tmp_path: Path, argv0: str, path_env: str) -> list[str]:
    env = {**os.environ, "PATH": path_env, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([argv0, "demo", "--quick", "--seed-jobs", "30", "--no-progress"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tail = proc.stdout.split("try:", 1)[1].splitlines()
    return [line.strip() for line in tail if line.strip()]


def test_hints_name_the_venv_script_when_the_path_lacks_it(tmp_path):
    """`.venv/bin/jobarchive demo` printed `try: jobarchive --archive ...`: command not
    found in the shell that just ran the README's first command."""
    if not SCRIPT.is_file():
        import pytest

        pytest.skip(f"no console script at {SCRIPT}")
    relative = os.path.relpath(SCRIPT, tmp_path)
    hints = _demo(tmp_path, relative, "/usr/bin:/bin")
    assert len(hints) == 3 and all(h.startswith(f"{relative} --archive demo.jobarchive ")
                                   for h in hints), hints
    # each hint runs as printed
    for hint in hints:
        proc = subprocess.run(hint.split(), cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, (hint, proc.stderr)
    # with the venv on the PATH (activated), the bare name
    hints = _demo(tmp_path, str(SCRIPT), f"{SCRIPT.parent}:/usr/bin:/bin")
    assert all(h.startswith("jobarchive --archive demo.jobarchive ") for h in hints), hints
