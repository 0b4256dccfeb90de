"""Ctrl-C ends the command as an interrupted program, not as an error: one `Error:
interrupted ...` line, then death by SIGINT (a shell's $? is 130). Exiting with 1 instead made
bash take the Ctrl-C as handled by the child: `for a in *.jobarchive; do jobarchive --archive
"$a" sync; done` went on to the next archive after each Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from jobarchive.emulator import Emulator

MAIN = [sys.executable, "-c", "from jobarchive.cli import main; main()"]


def _interrupt_when_busy(proc: subprocess.Popen, emu: Emulator, group: bool) -> tuple[str, str]:
    while proc.poll() is None and emu.stats().get("total", 0) < 20:
        time.sleep(0.01)
    if group:
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the shell gets it too
    else:
        proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=120)


def _sync_args(emu: Emulator, path) -> list[str]:
    return ["--archive", str(path), "sync", "--url", emu.url, "--token", emu.token,
            "--no-progress"]


def test_ctrl_c_ends_the_command_by_sigint_after_one_line(tmp_path):
    with Emulator(seed_jobs=300, seed=5, latency=0.05) as emu:
        proc = subprocess.Popen([*MAIN, *_sync_args(emu, tmp_path / "a")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, err = _interrupt_when_busy(proc, emu, group=False)
    assert proc.returncode == -signal.SIGINT, (proc.returncode, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert lines[-1].startswith("Error: interrupted") and "again" in lines[-1], err


def test_ctrl_c_stops_a_shell_loop_over_archives(tmp_path):
    with Emulator(seed_jobs=300, seed=5, latency=0.05) as emu:
        command = " ".join(f"'{a}'" for a in [*MAIN, *_sync_args(emu, tmp_path / "$a")])
        script = f'for a in one two three; do {command}; echo "after $a"; done'
        proc = subprocess.Popen(["bash", "-c", script.replace("'$a'", '"$a"')],
                                start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        out, err = _interrupt_when_busy(proc, emu, group=True)
    assert "after" not in out, (out, err)
    assert proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT), (proc.returncode, err)
    assert not (tmp_path / "two").exists()
