"""One bit flipped in a blob file (a failing disk, a bad copy): every read that does not hash
the file (get(), counts(), a sync's merge) must either give what was stored or raise
BlobIntegrityError naming the file, never other counts or another result, and never a bare
JSONDecodeError, UnicodeDecodeError or KeyError from inside the decoding."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from audit_jobs import CLIENT, bell_qobj

from jobarchive import Archive
from jobarchive.exceptions import BlobIntegrityError
from jobarchive.qobj import simulate_qobj

JOBS = 24
FLIPS = 160


def _record(i: int) -> dict:
    qobj = bell_qobj(100 + i, circuits=2)
    # The same bytes every run (no clock, no random ids): the same positions are flipped.
    result = {**simulate_qobj(qobj, seed=i, job_id=f"job{i:03d}"), "date": "2021-01-01T00:00:00Z",
              "time_taken": 0.002}
    for exp in result["results"]:
        exp["time_taken"] = 0.001
    return {"job_id": f"job{i:03d}", "creation_date": f"2021-01-{1 + i % 28:02d}T00:00:00Z",
            "status": "COMPLETED", "backend_name": "ibmq_qasm_simulator",
            "kind": "q-object-external-storage", "client_info": CLIENT, "qobj": qobj,
            "result": result}


def _sorted(frame):
    return frame.sort_values(["job_id", "experiment", "bitstring"]).reset_index(drop=True)


def test_a_flipped_bit_is_read_as_stored_or_refused(tmp_path):
    path = tmp_path / "a.jobarchive"
    with Archive(path) as arc:
        arc.add_many([_record(i) for i in range(JOBS)])
        ids = sorted(arc.query()["job_id"])
        records = {job_id: arc.get(job_id).to_dict() for job_id in ids}
        counts = _sorted(arc.counts(ids))
    blob, = (path / "blobs").glob("*.parquet")
    stored = blob.read_bytes()
    silent: list[tuple[int, str]] = []
    refused = 0
    # Every part of the file: pages of each column, dictionaries, the footer.
    for pos in range(4, len(stored) - 8, max(1, len(stored) // FLIPS)):
        damaged = bytearray(stored)
        damaged[pos] ^= 0x04
        blob.write_bytes(damaged)
        with Archive(path) as arc:  # a new reader: nothing decoded before is cached
            try:
                if not _sorted(arc.counts(ids)).equals(counts):
                    silent.append((pos, "counts()"))
            except BlobIntegrityError as err:
                assert blob.name in str(err)
                refused += 1
            except Exception as err:  # noqa: BLE001 - a bare error is the finding
                silent.append((pos, f"counts() raised {type(err).__name__}"))
            for job_id in ids:
                try:
                    if arc.get(job_id).to_dict() != records[job_id]:
                        silent.append((pos, f"get({job_id!r})"))
                        break
                except BlobIntegrityError as err:
                    assert blob.name in str(err)
                    refused += 1
                    break
                except Exception as err:  # noqa: BLE001 - a bare error is the finding
                    silent.append((pos, f"get({job_id!r}) raised {type(err).__name__}"))
                    break
    assert not silent, (f"{len(silent)} reads gave other data than stored or a bare error, "
                        f"e.g. {[w for w in silent if 'raised' not in w[1]][:3]} "
                        f"{[w for w in silent if 'raised' in w[1]][:3]}")
    assert refused  # the flips were seen at all


def test_a_payload_that_does_not_decode_is_a_damaged_blob(tmp_path):
    """A file written before page checksums has nothing to catch a flip inside the result's
    JSON: the text then fails to decode, which is the file's damage, said as such."""
    path = tmp_path / "a.jobarchive"
    with Archive(path) as arc:
        arc.add(_record(0))
    blob, = (path / "blobs").glob("*.parquet")
    table = pq.read_table(blob)
    result = table.column("result").to_pylist()
    result[0] = result[0].replace('"counts":', '"counts"', 1)  # as a flipped bit leaves it
    table = table.set_column(table.schema.get_field_index("result"), "result",
                             pa.array(result, pa.large_string()))
    pq.write_table(table, blob, compression="zstd")  # no page checksums, as older files
    with Archive(path) as arc, pytest.raises(BlobIntegrityError, match=blob.name):
        arc.get("job000")
