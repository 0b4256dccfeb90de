"""An Archive opened with a relative path stays that archive when the process changes its
working directory (a notebook's %cd, a script's os.chdir).

It resolved the path again on every use: after a chdir, get() and counts() called every
blob "missing" (and pointed at backups and syncs to fix damage there was none of), another
thread's connection could not open the index, add() failed, audit() crashed, and where the
new directory held an archive of the same relative name, writes and locks went to that one."""

from __future__ import annotations

import threading

from jobarchive import Archive


def job(i: int, **extra) -> dict:
    return {"job_id": f"job{i:08d}", "creation_date": "2022-01-01T00:00:00Z",
            "status": "COMPLETED", "backend_name": "ibmq_athens", "tags": ["t"],
            "result": {"results": [{"shots": 10, "data": {"counts": {hex(i % 8): 10}}}]},
            "qobj": {"qobj_id": f"q{i}", "experiments": [{}]}, **extra}


def test_an_archive_opened_by_a_relative_path_survives_a_chdir(tmp_path, monkeypatch):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with Archive(tmp_path / "two" / "lab.jobarchive") as other:  # same name, elsewhere
        other.add(job(99))
    monkeypatch.chdir(tmp_path / "one")
    arc = Archive("lab.jobarchive")
    arc.add_many([job(i) for i in range(10)])
    monkeypatch.chdir(tmp_path / "two")

    assert arc.record("job00000001")["result"] == job(1)["result"]
    assert len(arc.counts()) == 10
    seen = []
    thread = threading.Thread(target=lambda: seen.append(len(arc)))
    thread.start()
    thread.join()
    assert seen == [10]
    arc.add(job(10))
    frame = arc.retag(["job00000002"], additional_tags=["u"], progress=False)
    assert list(frame["job_id"]) == ["job00000002"]
    audit = arc.audit()
    assert audit["ok"].all() and len(audit) == 11 and audit.attrs["orphans"] == []
    assert arc.backup(tmp_path / "copy").jobs == 11
    arc.close()

    with Archive(tmp_path / "one" / "lab.jobarchive", create=False) as arc:
        assert len(arc) == 11 and arc.record("job00000002")["tags"] == ["t", "u"]
    with Archive(tmp_path / "two" / "lab.jobarchive", create=False) as other:
        assert len(other) == 1
        audit = other.audit()
        assert audit["ok"].all() and audit.attrs["orphans"] == []
        assert len(list((tmp_path / "two" / "lab.jobarchive" / "blobs").iterdir())) == 1
