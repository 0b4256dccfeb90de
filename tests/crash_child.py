"""Child process of the crash tests.

``python crash_child.py ARCHIVE SEED BATCHES BATCH_SIZE``: writes deterministic jobs, prints
``READY`` once imports are done, then ``ACK <id> <id> ...`` after each ``add_many`` returns.

``python crash_child.py campaign ROOT KILLS SEED``: a kill campaign without paying the
interpreter start-up per kill. This process imports once, then for every kill point forks a
writer that runs ``add_many`` and is SIGKILLed either at a random moment or at an exact
point of the write path (the n-th blob's temp file written but not renamed; the n-th blob
durable but its rows not committed; inside the n-th index transaction with every statement
run but not committed; right after a commit, before the acknowledgement). After each kill
it checks the archive and prints one JSON summary line at the end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

KILL_MODES = ("time", "blob-tmp", "blob-done", "in-txn", "after-commit")


def make_records(seed: int, batches: int, batch_size: int) -> list[list[dict]]:
    """The same batches of job records (with results and qobj) for a given seed."""
    rng = random.Random(seed)
    out = []
    for b in range(batches):
        batch = []
        for i in range(batch_size):
            n = b * batch_size + i
            exps = rng.randint(1, 3)
            batch.append({
                "job_id": f"crash{seed:04d}x{n:06d}",
                "creation_date": f"2022-{1 + n % 12:02d}-{1 + n % 28:02d}T10:{n % 60:02d}:00.123Z",
                "status": rng.choice(["COMPLETED", "COMPLETED", "ERROR_RUNNING_JOB", "QUEUED"]),
                "backend_name": rng.choice(["ibmq_athens", "ibmq_lima"]),
                "kind": "q-object-external-storage",
                "name": f"bell-{n}",
                "tags": rng.sample(["a", "b", "c", "d", "ibmq_jobset_x"], rng.randint(0, 3)),
                "qobj": {"qobj_id": f"q{n}", "experiments": [{"instructions": []}] * exps},
                "result": {
                    "backend_name": "ibmq_athens", "backend_version": "1.0", "qobj_id": f"q{n}",
                    "job_id": f"crash{n}", "success": True,
                    "results": [{"shots": 100, "success": True,
                                 "data": {"counts": {"0x0": rng.randint(0, 99), "0x3": 7}}}
                                for _ in range(exps)],
                },
            })
        out.append(batch)
    return out


def main() -> None:
    from jobarchive import Archive

    path, seed, batches, batch_size = sys.argv[1], *map(int, sys.argv[2:5])
    data = make_records(seed, batches, batch_size)
    arc = Archive(path)
    print("READY", flush=True)
    for batch in data:
        arc.add_many(batch)
        print("ACK " + " ".join(r["job_id"] for r in batch), flush=True)
    print("DONE", flush=True)


# --- the forking campaign -----------------------------------------------------------------


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install_kill_point(arc, mode: str, nth: int) -> None:
    """Patch the write path of this (forked) process so it kills itself at the nth event."""
    import jobarchive.store.blobs as blobs

    seen = [0]

    def hit() -> None:
        seen[0] += 1
        if seen[0] == nth:
            _die()

    if mode == "blob-tmp":
        real_fsync = blobs.os.fsync

        def fsync(fd):
            hit()  # temp file written but not fsynced, or renamed but blobs/ not fsynced
            real_fsync(fd)

        blobs.os.fsync = fsync
    elif mode == "blob-done":
        real_write = arc.blobs.write

        def write(entries):
            out = real_write(entries)
            hit()  # blob durable under its final name, no row points at it yet
            return out

        arc.blobs.write = write
    elif mode == "in-txn":
        db = arc.index.db  # this thread's, the one add_many writes through
        real_atomic = db.atomic

        @contextmanager
        def atomic():
            with real_atomic():
                yield
                hit()  # every statement of the batch ran; COMMIT has not

        db.atomic = atomic
    elif mode == "after-commit":
        real_write_batch = arc.index.write_batch

        def write_batch(*args, **kwargs):
            real_write_batch(*args, **kwargs)
            hit()  # committed, but add_many has not returned: not acknowledged

        arc.index.write_batch = write_batch


def _writer(path: Path, data: list[list[dict]], acked: set[str], mode: str, nth: int, fd: int,
            rng: random.Random) -> None:
    from jobarchive import Archive

    arc = Archive(path)
    _install_kill_point(arc, mode, nth)
    for batch in data:
        ids = [r["job_id"] for r in batch]
        # Acknowledged batches are skipped (a re-run resumes), some are re-added (updates).
        if all(j in acked for j in ids) and rng.random() > 0.1:
            continue
        arc.add_many(batch, batch_size=len(batch))
        os.write(fd, ("ACK " + " ".join(ids) + "\n").encode())
    os.write(fd, b"DONE\n")
    os._exit(0)


def _check(path: Path, expected: dict[str, dict], acked: set[str], verified: set[str],
           rng: random.Random, verify: bool) -> list[str]:
    from jobarchive import Archive, IBMQJob

    problems = []
    if not (path / "index.db").exists():  # killed before the archive was created
        return [f"archive missing but {len(acked)} jobs were acknowledged"] if acked else []
    arc = Archive(path, create=False)
    try:
        frame = arc.audit(verify=verify)
        if not frame["ok"].all():
            problems.append(f"audit: {frame[~frame['ok']].to_dict('records')[:3]}")
        committed = set(frame["job_id"])
        if not acked <= committed:
            problems.append(f"acknowledged jobs lost: {sorted(acked - committed)[:5]}")
        others = sorted(committed - acked)
        for job_id in sorted((acked - verified) & committed) + rng.sample(others, min(10, len(others))):
            if arc.get(job_id).to_dict() != IBMQJob.from_dict(expected[job_id]).to_dict():
                problems.append(f"{job_id} differs from what was added")
        verified |= acked
    finally:
        arc.close()
    return problems


def campaign(root: Path, kills: int, seed: int, batches: int = 30, size: int = 25) -> dict:
    """Run ``kills`` kill points; returns counts and every problem found."""
    from jobarchive import Archive

    rng = random.Random(seed)
    data = make_records(seed, batches, size)
    expected = {r["job_id"]: r for batch in data for r in batch}
    rounds, path = 0, root / "r0"
    acked: set[str] = set()
    verified: set[str] = set()
    points: Counter[str] = Counter()
    problems: list[str] = []
    finished_runs = 0
    done = 0
    while done < kills:
        mode = KILL_MODES[done % len(KILL_MODES)] if done < 2 * len(KILL_MODES) else rng.choice(KILL_MODES)
        nth = rng.randint(1, 6)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the writer
            os.close(read_fd)
            try:
                _writer(path, data, set(acked), mode, nth, write_fd, random.Random(rng.random()))
            except BaseException:
                import traceback

                os.write(write_fd, ("ERROR " + traceback.format_exc()).encode())
            finally:
                os._exit(3)
        os.close(write_fd)
        if mode == "time":
            time.sleep(rng.uniform(0.0, 0.3))
            os.kill(pid, signal.SIGKILL)
        chunks = []
        while chunk := os.read(read_fd, 1 << 16):
            chunks.append(chunk)
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
        out = b"".join(chunks).decode()
        for line in out.splitlines():
            if line.startswith("ACK "):
                acked.update(line.split()[1:])
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        if killed:
            done += 1
            points[mode] += 1
        elif not out.endswith("DONE\n"):
            problems.append(f"writer exited with status {status} in mode {mode}: {out[-200:]}")
        problems += [f"after {mode}#{nth}: {p}" for p in
                     _check(path, expected, acked, verified, rng, verify=done % 10 == 0)]
        if out.endswith("DONE\n"):
            # The re-run finished the work: everything is there and repair leaves it clean.
            finished_runs += 1
            with Archive(path) as arc:
                if len(arc) != len(expected):
                    problems.append(f"finished run holds {len(arc)} of {len(expected)} jobs")
                arc.audit(repair=True)
                after = arc.audit()
                if after.attrs["orphans"] or not after["ok"].all():
                    problems.append("audit(repair=True) left orphans or problems")
            rounds += 1
            path = root / f"r{rounds}"
            acked, verified = set(), set()
    return {"kills": done, "points": dict(points), "finished_runs": finished_runs,
            "archives": rounds + 1, "problems": problems}


if __name__ == "__main__":
    if sys.argv[1] == "campaign":
        summary = campaign(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps(summary), flush=True)
    else:
        main()
