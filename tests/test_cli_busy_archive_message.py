"""What the CLI says when the archive is busy for another reason than a sync or retag.

Every ArchiveLockedError was rewritten as "another sync or retag holds its write lock; wait
for it to finish, or pass --wait", also when another process is stuck opening (creating or
upgrading) the archive, where --wait does not exist for the command (ls) and would not
help: the library's text names the stuck opener and the fix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner
from test_open_beside_a_stuck_opener import _HANG_IN_OPEN

from jobarchive import Archive
from jobarchive.cli import cli


@pytest.mark.timeout(60)
def test_ls_beside_a_stopped_opener_names_the_opener_not_a_sync(tmp_path, monkeypatch):
    path = tmp_path / "a"
    Archive(path).close()
    # The CLI opens with the default busy_timeout (30 s); a shorter one keeps the test short.
    monkeypatch.setitem(Archive.__init__.__kwdefaults__, "busy_timeout", 0.2)
    child = subprocess.Popen([sys.executable, "-c", _HANG_IN_OPEN, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "IN", child.stderr.read()
        os.kill(child.pid, signal.SIGSTOP)
        result = CliRunner().invoke(cli, ["--archive", str(path), "ls"])
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert result.exit_code != 0
    assert "opened by another process" in result.output, result.output
    assert "--wait" not in result.output, result.output
