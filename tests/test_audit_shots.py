"""audit(reproduce=True) checks a stored histogram's total against the experiment's shots
whatever the number type its counts were written in (integral floats such as 512.0 are
counts too: JSON writers and pandas round-trips spell them so)."""

from __future__ import annotations

import copy

from audit_jobs import CLIENT, bell_qobj

from jobarchive.qobj import simulate_qobj

_bell = bell_qobj


def _record(job_id: str, qobj: dict, result: dict) -> dict:
    return {"job_id": job_id, "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
            "backend_name": "ibmq_qasm_simulator", "kind": "q-object-external-storage",
            "client_info": CLIENT, "qobj": qobj, "result": result}


def _with_counts(result: dict, counts: dict) -> dict:
    out = copy.deepcopy(result)
    out["results"][0]["data"]["counts"] = counts
    return out


def test_integral_float_counts_whose_total_is_not_the_shots_are_flagged(arc):
    """{"0x0": 512.0, "0x3": 1000.0} for a 1000-shot Bell job: the total check looked only at
    counts that were all Python ints, so these doubled-ish counts (same distribution as an
    intact run, fidelity about 0.99) were ok. Intact counts written as floats stay ok."""
    qobj = _bell()
    result = simulate_qobj(qobj, seed=1)
    counts = result["results"][0]["data"]["counts"]
    as_floats = {k: float(v) for k, v in counts.items()}
    inflated = {k: float(2 * v) for k, v in counts.items()}
    mixed = {**counts, "0x0": float(counts["0x0"] + 3)}
    arc.add_many([_record("intact", qobj, result),
                  _record("floats", qobj, _with_counts(result, as_floats)),
                  _record("inflated", qobj, _with_counts(result, inflated)),
                  _record("mixed", qobj, _with_counts(result, mixed))])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame.loc["intact", "ok"] and frame.loc["floats", "ok"], frame["problem"].to_dict()
    assert frame.loc["floats", "fidelity"] == 1.0
    for job_id, total in (("inflated", 2000), ("mixed", 1003)):
        row = frame.loc[job_id]
        assert row["flagged"] and not row["ok"], row["notes"]
        assert f"counts {total} shots, but it ran 1000" in row["problem"]


def test_fractions_are_still_judged_as_a_distribution_at_their_shots(arc):
    """Whole floats summing to 1 are fractions ({"0x0": 1.0}), not a 1-shot histogram: the
    shots check leaves them to the fidelity check, which flags this forged one."""
    qobj = _bell()
    result = simulate_qobj(qobj, seed=1)
    arc.add_many([_record("forged", qobj, _with_counts(result, {"0x1": 1.0}))])
    row = arc.audit(reproduce=True, progress=False).set_index("job_id").loc["forged"]
    assert row["flagged"] and "reproduced counts differ" in row["problem"]
    assert "but it ran" not in row["problem"]


def test_fractions_that_are_not_a_distribution_are_flagged(arc):
    """Fractions are normalized before the comparison, so {0x0: 0.3, 0x3: 0.3} (a Bell pair
    with 40% of its probability gone) had fidelity 1.0 and was ok. Fractions total 1, or
    the shots when they are counts scaled by a mitigation; anything else is damage."""
    qobj = _bell()
    result = simulate_qobj(qobj, seed=1)
    counts = result["results"][0]["data"]["counts"]
    total = sum(counts.values())
    fractions = {k: v / total for k, v in counts.items()}
    scaled = {"0x0": counts["0x0"] - 0.5, "0x3": counts["0x3"] + 0.5}  # sums to the shots
    arc.add_many([_record("fractions", qobj, _with_counts(result, fractions)),
                  _record("scaled", qobj, _with_counts(result, scaled)),
                  _record("lost", qobj, _with_counts(result, {"0x0": 0.3, "0x3": 0.3}))])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    assert frame.loc["fractions", "ok"] and frame.loc["scaled", "ok"], frame["problem"].to_dict()
    row = frame.loc["lost"]
    assert row["flagged"] and not row["ok"] and "total 0.6" in row["problem"], row["problem"]
