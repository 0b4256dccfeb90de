"""Child process of the crash tests: writes deterministic jobs, acknowledging each batch.

Run as ``python crash_child.py ARCHIVE SEED BATCHES BATCH_SIZE``; prints ``READY`` once
imports are done, then ``ACK <id> <id> ...`` after each ``add_many`` returns.
"""

from __future__ import annotations

import random
import sys


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


if __name__ == "__main__":
    main()
