"""Soak worker: ``python soak_child.py writer|reader|syncer ARCHIVE SECONDS SEED [URL TOKEN]``.

The writer keeps re-adding jobs with new statuses and tags; the syncer keeps syncing
against the emulator at URL and retagging (remote and local); a reader keeps querying and
reading jobs and checks each one round-trips (and counts of a job with a result). Both print one JSON line of counts at the end
and exit non-zero on any error.
"""

import json
import random
import sys
import time


def job(n: int, rng: random.Random) -> dict:
    status = rng.choice(["QUEUED", "RUNNING", "COMPLETED"])
    rec = {"job_id": f"soak{n:05d}", "creation_date": f"2022-03-{1 + n % 28:02d}T00:00:{n % 60:02d}Z",
           "status": status, "tags": rng.sample(["a", "b", "c", "d"], rng.randint(0, 3)),
           "name": f"n{rng.randint(0, 9)}", "share_level": "none"}
    if status == "COMPLETED":
        rec["result"] = {"results": [{"shots": 5, "success": True, "data": {"counts": {"0x1": 5}}}]}
        rec["qobj"] = {"experiments": [{}]}
    return rec


READ_TAGS = ["a", "b", "c", "d", "exp1", "exp2", "vqe", "calibration", "hardware", "soak-x",
             "soak-y"]


def sync_and_retag(arc, url: str, token: str, rng: random.Random, deadline: float) -> int:
    """The sync writer: sync passes against the emulator and retags (remote and local)."""
    import jobarchive

    provider = jobarchive.connect(url, token)
    ops = 0
    while time.monotonic() < deadline:
        arc.sync(provider, progress=False, lock_timeout=None, full=rng.random() < 0.3,
                 batch_size=rng.choice([20, 100]))
        ids = list(arc.query(limit=rng.randint(1, 60), skip=rng.randrange(0, 100))["job_id"])
        if ids:
            tag = rng.choice(["soak-x", "soak-y"])
            other = "soak-y" if tag == "soak-x" else "soak-x"
            arc.retag(ids, additional_tags=[tag], removal_tags=[other], progress=False,
                      provider=provider if rng.random() < 0.5 else None, lock_timeout=None)
        ops += 1
    return ops


def main() -> None:
    from jobarchive import Archive, IBMQJob

    role, path, seconds, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    arc = Archive(path)
    deadline = time.monotonic() + seconds
    ops = 0
    if role == "syncer":  # URL and token follow
        ops = sync_and_retag(arc, sys.argv[5], sys.argv[6], rng, deadline)
    while time.monotonic() < deadline:
        if role == "writer":
            arc.add_many([job(rng.randrange(2000), rng) for _ in range(rng.randint(1, 200))])
        else:
            frame = arc.query(job_tags=[rng.choice(READ_TAGS)], limit=50, skip=rng.randrange(0, 200))
            for job_id, has_result in zip(frame["job_id"], frame["has_result"], strict=True):
                j = arc.get(job_id)
                assert IBMQJob.from_dict(j.to_dict()).to_dict() == j.to_dict()
                assert (j.to_dict()["result"] is not None) or not has_result, job_id
            if len(frame):
                arc.counts(list(frame["job_id"][:10]))
        ops += 1
    print(json.dumps({"role": role, "ops": ops}), flush=True)


if __name__ == "__main__":
    main()
