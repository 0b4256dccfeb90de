"""A refused token (regenerated on the account page, months into a cron job) said only
"Login with the API token failed: the server refused it (401 ...)". The token may come
from --token, JOBARCHIVE_TOKEN, QE_TOKEN or ~/.qiskit/qiskitrc, the first one set winning:
the message names the one used, so the user fixes that one (a stale QE_TOKEN in cron's
environment is not cured by a new token in qiskitrc)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from jobarchive.cli import cli
from jobarchive.emulator import Emulator

WRONG = "not-the-token-0123456789"


def _refused(tmp_path: Path, url: str, *extra: str, env: dict | None = None) -> str:
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "a"), "sync", "--url", url,
                                   "--no-progress", *extra], env=env)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error:"), res.stderr
    assert "refused" in lines[0] and WRONG not in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("var", ["JOBARCHIVE_TOKEN", "QE_TOKEN"])
def test_a_refused_token_from_the_environment_is_named(tmp_path, empty_home, var):
    with Emulator(seed_jobs=2) as emu:
        line = _refused(tmp_path, emu.url, env={var: WRONG})
    assert f"token came from ${var}:" in line, line


def test_a_refused_token_from_qiskitrc_is_named(tmp_path, empty_home):
    (empty_home / ".qiskit").mkdir()
    (empty_home / ".qiskit" / "qiskitrc").write_text(f"[ibmq]\ntoken = {WRONG}\n")
    with Emulator(seed_jobs=2) as emu:
        line = _refused(tmp_path, emu.url)
    assert "token came from ~/.qiskit/qiskitrc:" in line, line


def test_a_refused_token_option_is_named(tmp_path, empty_home):
    with Emulator(seed_jobs=2) as emu:
        line = _refused(tmp_path, emu.url, "--token", WRONG, env={"QE_TOKEN": "other-123456"})
    assert "token came from --token:" in line, line
