"""A fork server for the sync and retag kill campaigns (tests/test_crash_live.py).

``python fork_child.py`` imports jobarchive once, then reads one JSON command a line on
stdin: ``{"op": "sync"|"retag", "path", "url", "token", "kwargs"}``. For each it forks a
worker and answers on stdout ``PID <pid>``; the worker connects, opens the archive, says
``READY <pid>`` and runs ``Archive.sync``/``Archive.retag`` (every archived job for retag);
the fork server reaps it and says ``EXIT <pid> <0|-signal|code>``. The parent kills workers
with SIGKILL by pid: a kill costs a fork, not an interpreter start.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def _work(cmd: dict) -> None:
    import jobarchive
    from jobarchive import Archive

    provider = jobarchive.connect(cmd["url"], cmd["token"], backoff_factor=0.01)
    arc = Archive(cmd["path"])
    kwargs = dict(cmd.get("kwargs") or {})
    ids = list(arc.query(descending=False)["job_id"]) if cmd["op"] == "retag" else None
    _say(f"READY {os.getpid()}")
    if cmd["op"] == "sync":
        arc.sync(provider, progress=False, lock_timeout=None, **kwargs)
    else:
        arc.retag(ids, provider=provider, progress=False, lock_timeout=None, **kwargs)
    arc.close()


def main() -> None:
    import jobarchive  # noqa: F401 - imported once here, inherited by every worker
    import jobarchive.archive  # noqa: F401

    _say("SERVING")
    for line in sys.stdin:
        cmd = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _work(cmd)
            except BaseException:
                _say("ERROR " + traceback.format_exc().replace("\n", " | "))
                code = 3
            finally:
                os._exit(code)
        _say(f"PID {pid}")
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        _say(f"EXIT {pid} {code}")


if __name__ == "__main__":
    main()
