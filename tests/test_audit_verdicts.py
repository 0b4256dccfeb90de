"""audit() verdicts on odd but valid jobs: count keys in every spelling qiskit reads, and the
provenance of every client_info shape (a wrong verdict either way is a defect)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from audit_jobs import CLIENT, bell_qobj
from qiskit import QuantumCircuit

from jobarchive.audit import note_kind
from jobarchive.qobj import qobj_from_circuits, simulate_qobj

_bell = bell_qobj


def _record(job_id: str, qobj=None, result=None, client_info=CLIENT,
            backend: str = "ibmq_qasm_simulator") -> dict:
    return {"job_id": job_id, "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
            "backend_name": backend, "kind": "q-object-external-storage",
            "client_info": client_info, "qobj": qobj, "result": result}


def _rekeyed(result: dict, spell) -> dict:
    out = copy.deepcopy(result)
    for exp in out["results"]:
        exp["data"]["counts"] = {spell(int(k, 16)): v for k, v in exp["data"]["counts"].items()}
    return out


def test_reproduce_reads_0b_keys_like_hex_and_binary(arc):
    """qiskit's Counts (and counts()) read '0b11' as outcome 3: an intact result keyed so is
    reproduced exactly, not 'reproduced counts differ' with fidelity 0."""
    qobj = _bell()
    result = simulate_qobj(qobj, seed=5)
    arc.add_many([
        _record("hex", qobj, result),
        _record("zerob", qobj, _rekeyed(result, lambda v: f"0b{v:b}")),
        _record("binary", qobj, _rekeyed(result, lambda v: f"{v:02b}")),
        _record("spaced", qobj, _rekeyed(result, lambda v: " ".join(f"{v:02b}"))),
    ])
    frame = arc.audit(reproduce=True, threshold=1.0, progress=False).set_index("job_id")
    assert frame["fidelity"].to_dict() == {"binary": 1.0, "hex": 1.0, "spaced": 1.0, "zerob": 1.0}
    assert frame["ok"].all() and not frame["flagged"].any(), frame["problem"].to_dict()


def test_reproduce_of_a_result_with_a_malformed_hex_key_is_a_verdict_not_a_crash(arc):
    """A stored key '0xZZ' (not hex) made audit(reproduce=True) raise ValueError for the whole
    archive; the job is now judged like any other whose counts do not match."""
    qobj = _bell()
    result = simulate_qobj(qobj, seed=5)
    bad = copy.deepcopy(result)
    bad["results"][0]["data"]["counts"] = {"0xZZ": 1000}
    arc.add_many([_record("good", qobj, result), _record("bad", qobj, bad)])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame.loc["good", "ok"] and frame.loc["good", "fidelity"] == 1.0
    assert frame.loc["bad", "flagged"] and "reproduced counts differ" in frame.loc["bad", "problem"]


# client_info as stored -> the audit's client note (None: the client is recorded).
CLIENT_SHAPES = {
    "full": (CLIENT, None),
    "one_client": ({"name": "qiskit", "version": "0.23.0"}, None),
    "comma_in_a_non_qiskit_name": ({"name": "foo,bar", "version": "1,2"}, None),
    "two_names_one_version": ({"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.16.1"},
                              "client version not recorded for qiskit-ibmq-provider"),
    "empty_second_version": ({"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.16.1,"},
                             "client version not recorded for qiskit-ibmq-provider"),
    "null_version": ({"name": "IBMQClient.jl", "version": None},
                     "client version not recorded (only its name: IBMQClient.jl)"),
    "null_name": ({"name": None, "version": "1.0"}, "client name not recorded"),
    "no_name": ({"version": "1.0"}, "client name not recorded"),
    "empty_strings": ({"name": "", "version": ""}, "client name not recorded"),
    "none": (None, "client version not recorded"),
}
# Without verify the audit reads no doc: the index's client text cannot show these two.
TEXT_BLIND = {"comma_in_a_non_qiskit_name", "two_names_one_version"}


@pytest.mark.parametrize("verify", [True, False])
def test_provenance_verdict_of_each_client_info_shape(arc, verify):
    """'With which client': a client whose name or one of whose versions is not recorded is
    not provenance (it was: 'None==1.0', 'unknown==1.0', '==' and a qiskit-ibmq-provider
    without version counted as recorded), and one whose name and version are recorded is
    (a non-qiskit name with a comma was 'only its name' though its version was there)."""
    arc.add_many([_record(name, client_info=info, backend="ibmq_athens")
                  for name, (info, _) in CLIENT_SHAPES.items()])
    frame = arc.audit(verify=verify).set_index("job_id")
    for name, (_, want) in CLIENT_SHAPES.items():
        if not verify and name in TEXT_BLIND:
            continue
        row = frame.loc[name]
        found = [n for n in row["notes"].split("; ") if n.startswith("client")]
        assert bool(row["provenance"]) is (want is None), (name, row["notes"])
        if want is None:
            assert not found, (name, found)
        else:
            assert len(found) == 1 and found[0].startswith(want), (name, found)
            assert note_kind(found[0]) == want.split(" (")[0].split(" for ")[0], found


def test_a_client_info_with_null_name_and_version_is_archived_and_audited(arc):
    """client_info {name: null, version: null} (the 2024 runtime shape with its name null too)
    made Archive.add() raise a bare TypeError ('sequence item 0: expected str instance')."""
    arc.add_many([_record("nulls", client_info={"name": None, "version": None}),
                  _record("number", client_info={"name": 5, "version": None})])
    assert arc.query().set_index("job_id")["client_version"].isna().to_dict()["nulls"]
    frame = arc.audit().set_index("job_id")
    assert frame["notes"].str.contains("client name not recorded").all()
    assert not frame["provenance"].any()


def _accepted(corpus: list[dict]) -> list[dict]:
    return [e["document"] for e in corpus
            if not str(e["document"].get("creationDate")).startswith("dummyapiJobscreationDate")]


@pytest.mark.parametrize("verify", [True, False])
def test_audit_says_when_and_where_each_real_job_ran(arc, real_corpus, verify):
    """'What ran, where, with which client': the audit gave the backend and client but not
    the hub/group/project a job ran under nor when; a reproducibility audit of real jobs
    (nested hubInfo 2021, flat hubName 2019, 2024 'provider') needs both."""
    from jobarchive import IBMQJob

    arc.add_many([IBMQJob.from_server(doc) for doc in _accepted(real_corpus)])
    frame = arc.audit(verify=verify).set_index("job_id")
    assert frame.loc["5ceeb008918fd00073904714", "provider"] == \
        "ibm-q-ornl/ornl-internal/algorithms-team"  # flat hubInfo of 2019
    assert frame.loc["6090421b6cb1a50366176853", "provider"] == "ibm-q/open/main"
    assert frame.loc["65d77683c5af71267b2cc634", "provider"] == "ibm-q/open/main"  # 2024
    assert frame.loc["5b633f94f9b81b00364af0dd", "provider"] is pd.NA  # 2018: not recorded
    query = arc.query().set_index("job_id")
    assert frame["creation_date"].dtype == query["creation_date"].dtype
    assert (frame["creation_date"] == query["creation_date"].reindex(frame.index)).all()


def test_a_runtime_job_without_result_is_not_said_to_lack_a_qobj(arc, real_corpus):
    """The 2024 runtime job (kind 'runtime': no qobj by design) archived without its result
    was 'DONE without result and qobj', as if a qobj were missing too."""
    from jobarchive import IBMQJob

    doc = next(d for d in _accepted(real_corpus) if d["id"] == "cnbnd1mj1613i2jfch3g"
               and d["status"] == "COMPLETED")
    arc.add(IBMQJob.from_server(doc))
    arc.add(_record("runtime-with-result", result=simulate_qobj(_bell(), seed=1)) | {
        "kind": "runtime"})
    frame = arc.audit().set_index("job_id")
    row = frame.loc["cnbnd1mj1613i2jfch3g"]
    assert not row["complete"] and "DONE without result" in row["notes"]
    assert "qobj" not in row["notes"], row["notes"]
    assert frame.loc["runtime-with-result", "complete"]
    assert "DONE without" not in frame.loc["runtime-with-result", "notes"]


def _as_probabilities(result: dict, counts: dict | None = None) -> dict:
    out = copy.deepcopy(result)
    for exp in out["results"]:
        hist = counts if counts is not None else exp["data"]["counts"]
        total = sum(hist.values())
        exp["data"]["counts"] = {k: v / total for k, v in hist.items()}
    return out


def test_counts_stored_as_probabilities_are_judged_at_their_shots(arc):
    """Counts written as fractions (floats summing to 1) were taken for a 1-shot sample, so
    the sampling allowance dropped the limit to 0: a result that never came from its qobj
    ({'0x1': 1.0} for a Bell pair) was ok. The experiment's shots are the sample size."""
    qobj = _bell()
    result = simulate_qobj(qobj, seed=5)
    arc.add_many([_record("fractions", qobj, _as_probabilities(result)),
                  _record("forged", qobj, _as_probabilities(result, {"0x1": 1000}))])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame.loc["fractions", "ok"] and frame.loc["fractions", "fidelity"] > 0.99
    assert frame.loc["forged", "flagged"] and not frame.loc["forged", "ok"]


def _wide(kind: str, n: int = 10) -> dict:
    qc = QuantumCircuit(n, n, name=kind)
    if kind == "ghz":
        qc.h(0)
        for q in range(n - 1):
            qc.cx(q, q + 1)
    else:
        qc.h(range(n))
    qc.measure(range(n), range(n))
    return qobj_from_circuits([qc], shots=1024, qobj_id=kind)


def test_swapped_results_of_wide_jobs_are_flagged_not_sampling_noise(arc):
    """Results swapped between a 10-qubit GHZ job and a 10-qubit uniform one (fidelity about
    0.001 to their own re-runs) were both ok, noted 'sampling noise ... two intact samples
    give about 0.68': the sampling allowance 1 - 4 * (1 - 0.68) is below 0, so nothing could
    be flagged. Intact samples stay well above the new floor (the tests of 58a5625 hold)."""
    ghz, uniform = _wide("ghz"), _wide("uniform")
    ghz_result, uniform_result = simulate_qobj(ghz, seed=1), simulate_qobj(uniform, seed=2)
    for result in (ghz_result, uniform_result):  # a seed BasicSimulator cannot reuse (Aer's)
        result["results"][0].pop("seed_simulator")
    arc.add_many([_record("ghz_holds_uniform", ghz, uniform_result),
                  _record("uniform_holds_ghz", uniform, ghz_result),
                  _record("ghz", ghz, ghz_result), _record("uniform", uniform, uniform_result)])
    for seed in range(3):  # re-runs with other seeds: intact jobs are new samples each time
        frame = arc.audit(reproduce=True, progress=False, seed=seed).set_index("job_id")
        for job_id in ("ghz_holds_uniform", "uniform_holds_ghz"):
            assert frame.loc[job_id, "flagged"] and not frame.loc[job_id, "ok"], \
                frame.loc[job_id, "notes"]
        assert frame.loc["ghz", "ok"] and frame.loc["uniform", "ok"]


def test_an_intact_job_of_few_outcomes_and_few_shots_is_not_flagged(arc):
    """A 64-shot job of 4 outcomes, intact (stored without a seed BasicSimulator can reuse):
    its re-run with the audit's seed 0 has fidelity 0.899, 4.3 times the expected sampling
    loss, and it was flagged 'reproduced counts differ' (one such job in 300). Counts that do
    not come from the circuit are still flagged."""
    qc = QuantumCircuit(2, 2, name="skewed")
    qc.ry(0.6, 0)
    qc.ry(1.2, 1)
    qc.measure([0, 1], [0, 1])
    qobj = qobj_from_circuits([qc], shots=64, qobj_id="skewed")
    intact = simulate_qobj(qobj, seed=1061)
    intact["results"][0].pop("seed_simulator")
    forged = copy.deepcopy(intact)
    forged["results"][0]["data"]["counts"] = {"0x3": 64}
    arc.add_many([_record("intact", qobj, intact), _record("forged", qobj, forged)])
    frame = arc.audit(reproduce=True, progress=False, seed=0).set_index("job_id")
    assert 0.85 < frame.loc["intact", "fidelity"] < 0.95
    assert frame.loc["intact", "ok"], frame.loc["intact", "problem"]
    assert "sampling noise" in frame.loc["intact", "notes"]
    assert frame.loc["forged", "flagged"] and not frame.loc["forged", "ok"]


def test_a_negative_count_is_a_finding_not_a_crash(arc):
    """A stored count below 0 made hellinger_fidelity take the square root of a negative
    number: ValueError out of the whole audit(reproduce=True). It is a damaged result."""
    qobj = _bell()
    result = simulate_qobj(qobj, seed=1)
    damaged = copy.deepcopy(result)
    damaged["results"][0]["data"]["counts"] = {"0x0": -500, "0x3": 1500}
    arc.add_many([_record("intact", qobj, result), _record("damaged", qobj, damaged)])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame.loc["intact", "ok"]
    row = frame.loc["damaged"]
    assert not row["ok"] and row["flagged"] and "counts -500 for outcome 0" in row["problem"]


def test_a_count_beyond_a_float_is_a_note_not_a_crash(arc):
    """The archive keeps ints of any size; a stored count of 10**400 made the sampling
    allowance raise OverflowError out of the whole audit(reproduce=True)."""
    qobj = _bell()
    result = simulate_qobj(qobj, seed=1)
    huge = copy.deepcopy(result)
    huge["results"][0]["data"]["counts"] = {"0x0": 10**400, "0x3": 10**400}
    huge["results"][0].pop("shots")  # (with its shots, the total alone is a finding)
    arc.add_many([_record("intact", qobj, result), _record("huge", qobj, huge)])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame.loc["intact", "ok"] and frame.loc["intact", "fidelity"] == 1.0
    assert "not reproduced: the stored counts cannot be compared" in frame.loc["huge", "notes"]


def test_the_partial_result_of_an_error_job_is_reproduced(arc):
    """An ERROR_RUNNING_JOB with its partial result (the experiments that ran carry counts,
    the failed one none, as the server and the emulator send it) was never re-run: a
    tampered partial result was ok and nothing said it had not been checked."""
    qc = [QuantumCircuit(2, 2, name=f"e{i}") for i in range(3)]
    for c in qc:
        c.h(0)
        c.cx(0, 1)
        c.measure([0, 1], [0, 1])
    qobj = qobj_from_circuits(qc, shots=1000, qobj_id="partial")
    partial = simulate_qobj(qobj, seed=4)
    partial["results"][-1].update(success=False, status="ERROR: experiment did not run", data={})
    partial.update(success=False, status="PARTIAL COMPLETED")
    tampered = copy.deepcopy(partial)
    tampered["results"][0]["data"]["counts"] = {"0x1": 500, "0x2": 500}
    error = {"status": "ERROR_RUNNING_JOB", "error": {"code": 7001, "message": "Error running job"}}
    arc.add_many([_record("intact", qobj, partial) | error, _record("tampered", qobj, tampered)
                  | error])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert (frame["status"] == "ERROR").all()
    assert frame.loc["intact", "ok"] and frame.loc["intact", "fidelity"] == 1.0
    assert frame.loc["tampered", "flagged"] and not frame.loc["tampered", "ok"]
    assert frame.attrs["summary"]["reproduced"] == 2


def test_counts_whose_total_is_not_the_shots_are_flagged(arc):
    """Every counts histogram of a run totals its shots (so do all real results in realdata).
    Counts doubled, or one outcome's count changed, kept about the same distribution and
    were ok ('is the stored result still intact' answered yes)."""
    qobj = _bell()
    result = simulate_qobj(qobj, seed=1)
    doubled, nudged = copy.deepcopy(result), copy.deepcopy(result)
    doubled["results"][0]["data"]["counts"] = {
        k: 2 * v for k, v in result["results"][0]["data"]["counts"].items()}
    nudged["results"][0]["data"]["counts"]["0x0"] += 3
    arc.add_many([_record("intact", qobj, result), _record("doubled", qobj, doubled),
                  _record("nudged", qobj, nudged)])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame.loc["intact", "ok"]
    for job_id, total in (("doubled", 2000), ("nudged", 1003)):
        row = frame.loc[job_id]
        assert row["flagged"] and not row["ok"]
        assert f"counts {total} shots, but it ran 1000" in row["problem"]
