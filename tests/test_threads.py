"""One Archive object used from several threads at once (a thread pool adding jobs as they
finish, a notebook querying meanwhile): no errors, nothing lost, and a reading thread never
sees half of another thread's batch. Each thread has its own SQLite connection."""

from __future__ import annotations

import threading

from jobarchive import Archive


def _job(job_id: str, tag: str) -> dict:
    return {"job_id": job_id, "creation_date": "2021-05-04T11:34:58Z", "status": "COMPLETED",
            "kind": "q-object-external-storage", "tags": [tag],
            "result": {"results": [{"header": {"memory_slots": 2}, "data": {"counts": {"0x0": 3, "0x3": 5}}}]}}


def test_threads_sharing_an_archive(tmp_path):
    arc = Archive(tmp_path / "a")
    errors: list[BaseException] = []
    seen: set[int] = set()
    done = threading.Event()

    def writer(w: int) -> None:
        try:
            for b in range(15):  # batches of 40 jobs, one tag per batch
                arc.add_many([_job(f"w{w}-{b}-{i}", f"w{w}-{b}") for i in range(40)])
                assert arc.record(f"w{w}-{b}-0")["tags"] == [f"w{w}-{b}"]
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    def reader() -> None:
        try:
            while not done.is_set():
                frame = arc.query(limit=None)
                seen.update(frame.groupby(frame["tags"].str[0]).size().tolist())
                arc.counts(frame["job_id"].head(20).tolist())
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert not errors, errors
    assert seen <= {40}  # whole batches only
    assert len(arc) == 3 * 15 * 40
    audit = arc.audit()
    assert audit["ok"].all() and not audit.attrs["orphans"]
    arc.close()


def test_a_closed_archive_says_so_in_every_thread(tmp_path):
    arc = Archive(tmp_path / "a")
    arc.add(_job("j1", "t"))
    arc.close()
    errors: list[str] = []
    thread = threading.Thread(target=lambda: errors.append(_error_of(lambda: len(arc))))
    thread.start()
    thread.join()
    errors.append(_error_of(lambda: arc.query()))  # and in the thread that used it
    assert errors == [f"the archive at {tmp_path / 'a'} was closed; open it again with Archive(path)"] * 2


def _error_of(fn) -> str:
    try:
        fn()
    except Exception as err:  # noqa: BLE001
        return str(err)
    return "no error"
