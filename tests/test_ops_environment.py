"""The CLI under a service account's environment: HOME a place nothing can be written (a
system user's /dev/null or /nonexistent home, systemd's ProtectHome), C and POSIX locales.

The console module runs in a child process with only the variables given; real archives
in tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobarchive import Archive

JOB = {"job_id": "j1", "creation_date": "2021-03-01T00:00:00Z", "status": "COMPLETED",
       "name": "état ✓ 量子", "tags": ["π"]}


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
            "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "jobarchive.cli", *args], cwd=cwd,
                          env={**base, **env}, capture_output=True, text=True,
                          encoding="utf-8", timeout=120)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add(JOB)
    return path


def test_report_under_an_unwritable_home_prints_nothing(tmp_path, archive):
    done = run(tmp_path, "--archive", str(archive), "-q", "report", "lab.html",
               HOME="/dev/null")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lab.html").is_file()
    assert done.stderr == ""


@pytest.mark.parametrize("locale", [{"LC_ALL": "POSIX"}, {"LANG": "C"}, {}])
def test_names_out_of_ascii_under_the_c_locale(tmp_path, archive, locale):
    """Cron's locale (none, C, POSIX): names and tags out of ASCII print as they are in
    the table, CSV and JSON (Python's UTF-8 mode), never a UnicodeEncodeError (a guard: no
    defect found)."""
    table = run(tmp_path, "--archive", str(archive), "ls", **locale)
    assert table.returncode == 0, table.stderr
    assert "état ✓ 量子" in table.stdout and "π" in table.stdout
    csv = run(tmp_path, "--archive", str(archive), "ls", "--name", "é", "--format", "csv",
              **locale)
    assert csv.returncode == 0 and "état ✓ 量子" in csv.stdout, csv.stderr
    shown = run(tmp_path, "--archive", str(archive), "show", "j1", "--json", **locale)
    assert shown.returncode == 0 and '"état ✓ 量子"' in shown.stdout, shown.stderr


def _without_a_home() -> list[str]:
    """The prefix that runs a command as a user with no passwd entry and no $HOME (a numeric
    User= of a service, `env -i` in a wrapper): Python cannot tell its home directory."""
    unshare = shutil.which("unshare")
    probe = [unshare, "--user", "--map-user=12345", sys.executable, "-c",
             "import pathlib; pathlib.Path.home()"] if unshare else None
    if probe is None or "Could not determine home" not in subprocess.run(
            probe, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}).stderr:
        pytest.skip("needs unshare --user (user namespaces) for a user without a home")
    return probe[:3]


@pytest.mark.parametrize("token", ["from the environment", "none"])
def test_sync_as_a_user_without_a_home_directory(tmp_path, token):
    """sync said 'Error: RuntimeError: Could not determine home directory.' (exit 1): with
    the token in $JOBARCHIVE_TOKEN and no URL it looked for ~/.qiskit/qiskitrc's URL, and
    without a token for its token. Without a home there is no qiskitrc: the default URL is
    used, and a missing token is the usual usage error (exit 2)."""
    env = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
           "PYTHONPATH": os.pathsep.join(sys.path),
           # IBM's URL must not be reached from a test: a dead proxy answers for it.
           "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    if token != "none":
        env["JOBARCHIVE_TOKEN"] = "a-token-from-cron-0123456789"
    done = subprocess.run([*_without_a_home(), sys.executable, "-m", "jobarchive.cli",
                           "--archive", str(tmp_path / "lab.jobarchive"), "sync",
                           "--max-retries", "0"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert "RuntimeError" not in done.stderr, done.stderr
    if token == "none":
        assert done.returncode == 2 and "no API token" in done.stderr, done.stderr
    else:
        assert done.returncode == 1, done.stderr
        assert "cannot reach https://auth.quantum-computing.ibm.com/api" in done.stderr
