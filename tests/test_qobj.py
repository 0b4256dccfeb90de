"""jobarchive.qobj: circuits <-> QASM Qobj dicts, and simulation to server Result JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Gate, Parameter
from qiskit.result import Result

from jobarchive.qobj import circuits_from_qobj, qobj_from_circuits, simulate_qobj

pytestmark = pytest.mark.terra046
REALDATA = Path("/work/shared/realdata")


def bell(name: str = "bell") -> QuantumCircuit:
    qc = QuantumCircuit(QuantumRegister(2, "q"), ClassicalRegister(2, "c"), name=name)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def rich_circuit() -> QuantumCircuit:
    a, b = QuantumRegister(2, "a"), QuantumRegister(1, "b")
    m, n = ClassicalRegister(1, "m"), ClassicalRegister(2, "n")
    qc = QuantumCircuit(a, b, m, n, name="rich", global_phase=0.25)
    qc.metadata = {"family": "rich", "depth": 3}
    qc.u(0.1, 0.2, 0.3, a[0])
    qc.rx(1.5, b[0])
    qc.cp(math.pi / 3, a[0], a[1])
    qc.ccx(a[0], a[1], b[0])
    qc.barrier()
    qc.reset(a[1])
    qc.sx(a[1])
    qc.measure(b[0], m[0])
    qc.measure(a[0], n[1])
    qc.measure(a[1], n[0])
    return qc


def test_round_trip_circuits_qobj_circuits():
    circuits = [bell(), rich_circuit()]
    qobj = qobj_from_circuits(circuits, shots=100, qobj_id="q-1", seed_simulator=3)
    assert json.loads(json.dumps(qobj)) == qobj  # JSON-only types
    assert qobj["type"] == "QASM" and qobj["qobj_id"] == "q-1"
    assert qobj["config"]["shots"] == 100 and qobj["config"]["seed_simulator"] == 3
    assert qobj["config"]["n_qubits"] == 3 and qobj["config"]["memory_slots"] == 3
    back = circuits_from_qobj(qobj)
    assert len(back) == 2
    for original, rebuilt in zip(circuits, back, strict=True):
        assert rebuilt == original
        assert rebuilt.name == original.name
        assert rebuilt.metadata == (original.metadata or {})
        assert math.isclose(float(rebuilt.global_phase), float(original.global_phase))
    # and the qobj of the rebuilt circuits is the same qobj
    assert qobj_from_circuits(back, shots=100, qobj_id="q-1", seed_simulator=3) == qobj


def test_header_shape():
    exp = qobj_from_circuits(rich_circuit())["experiments"][0]
    header = exp["header"]
    assert header["qreg_sizes"] == [["a", 2], ["b", 1]]
    assert header["creg_sizes"] == [["m", 1], ["n", 2]]
    assert header["clbit_labels"] == [["m", 0], ["n", 0], ["n", 1]]
    assert header["memory_slots"] == 3 and header["n_qubits"] == 3
    measures = [i for i in exp["instructions"] if i["name"] == "measure"]
    assert measures[0] == {"name": "measure", "qubits": [2], "memory": [0]}
    assert exp["instructions"][0] == {"name": "u", "qubits": [0], "params": [0.1, 0.2, 0.3]}


def test_bell_counts_only_00_and_11_and_result_from_dict():
    qobj = qobj_from_circuits([bell("b1"), bell("b2")], shots=400, qobj_id="bell-q")
    result = simulate_qobj(qobj, seed=11, job_id="job-1", backend_name="ibmq_qasm_simulator")
    assert result["qobj_id"] == "bell-q" and result["job_id"] == "job-1"
    assert result["success"] is True and result["status"] == "COMPLETED"
    for i, exp in enumerate(result["results"]):
        counts = exp["data"]["counts"]
        assert set(counts) <= {"0x0", "0x3"} and sum(counts.values()) == 400
        assert exp["shots"] == 400 and exp["meas_level"] == 2 and exp["seed_simulator"] == 11 + i
    parsed = Result.from_dict(result)
    assert set(parsed.get_counts(0)) <= {"00", "11"}
    assert sum(parsed.get_counts("b2").values()) == 400
    assert json.loads(json.dumps(result)) == result


def test_seed_reproduces_and_memory():
    qobj = qobj_from_circuits(rich_circuit(), shots=64, memory=True)
    r1 = simulate_qobj(qobj, seed=42)
    r2 = simulate_qobj(qobj, seed=42)
    assert r1["results"][0]["data"] == r2["results"][0]["data"]
    memory = r1["results"][0]["data"]["memory"]
    assert len(memory) == 64 and all(m.startswith("0x") for m in memory)
    # the qobj's own seed is used when none is passed
    seeded = qobj_from_circuits(bell(), shots=50, seed_simulator=9)
    assert simulate_qobj(seeded)["results"][0]["seed_simulator"] == 9


def test_unmeasured_circuit_has_empty_counts():
    qc = QuantumCircuit(1, name="nomeas")
    qc.h(0)
    result = simulate_qobj(qobj_from_circuits(qc, shots=10), seed=1)
    assert result["results"][0]["data"]["counts"] == {}


def _realdata_qobjs() -> list[dict]:
    qobjs = []
    xacc = json.loads((REALDATA / "xacc_test_files/jobs_info.json").read_text())
    xacc = xacc[0] if isinstance(xacc, list) else xacc
    qobjs.append(xacc["qObject"])
    text = (REALDATA / "ibmqclient_jl_records/submit_2021.json").read_text()

    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)
        elif isinstance(node, str) and '"schema_version"' in node:
            yield json.loads(node)

    qobjs.extend(walk(json.loads(text)))
    return qobjs


@pytest.mark.skipif(not REALDATA.exists(), reason="realdata not available")
def test_real_server_qobjs_simulate():
    xacc, jl = _realdata_qobjs()[:2]
    result = simulate_qobj(xacc, seed=1)
    assert sum(result["results"][0]["data"]["counts"].values()) == 1024
    Result.from_dict(result).get_counts(0)
    # IBMQClient.jl's Bell qobj: headers without register info, u2/u3 gates
    circuits = circuits_from_qobj(jl)
    assert [c.num_qubits for c in circuits] == [2, 2]
    result = simulate_qobj(jl, seed=5)
    assert set(result["results"][0]["data"]["counts"]) <= {"0x0", "0x3"}
    assert set(result["results"][1]["data"]["counts"]) <= {"0x1", "0x2"}
    assert result["results"][0]["header"] == {"description": "|11>+|00> Bell"}


def _good() -> dict:
    return qobj_from_circuits(bell(), shots=10)


def _mutate(path, value):
    def make():
        q = _good()
        node = q
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return q

    return make


_DELETE = object()
I0 = ("experiments", 0, "instructions", 0)

MALFORMED = {
    "not a dict": lambda: ["x"],
    "pulse type": _mutate(("type",), "PULSE"),
    "no experiments": _mutate(("experiments",), _DELETE),
    "empty experiments": _mutate(("experiments",), []),
    "experiment not a dict": _mutate(("experiments", 0), 5),
    "instructions not a list": _mutate(("experiments", 0, "instructions"), {"a": 1}),
    "unknown gate": _mutate((*I0, "name"), "frobnicate"),
    "name missing": _mutate((*I0, "name"), _DELETE),
    "qubit out of range": _mutate((*I0, "qubits"), [7]),
    "negative qubit": _mutate((*I0, "qubits"), [-1]),
    "qubit not int": _mutate((*I0, "qubits"), ["0"]),
    "wrong arity": _mutate((*I0, "qubits"), [0, 1]),
    "params for h": _mutate((*I0, "params"), [1.0]),
    "param is a string": _mutate(
        ("experiments", 0, "instructions", 0), {"name": "rx", "qubits": [0], "params": ["pi"]}
    ),
    "param nan": _mutate(
        ("experiments", 0, "instructions", 0),
        {"name": "rx", "qubits": [0], "params": [float("nan")]},
    ),
    "measure without memory": _mutate(("experiments", 0, "instructions", 2, "memory"), _DELETE),
    "memory out of range": _mutate(("experiments", 0, "instructions", 2, "memory"), [0, 9]),
    "conditional": _mutate((*I0, "conditional"), 0),
    "bfunc": _mutate(("experiments", 0, "instructions", 0), {"name": "bfunc", "mask": "0x1"}),
    "bad qreg_sizes": _mutate(("experiments", 0, "header", "qreg_sizes"), [["q"]]),
    "duplicate register": _mutate(("experiments", 0, "header", "creg_sizes"), [["c", 1], ["c", 1]]),
    "bool shots": _mutate(("config", "shots"), True),
    "config not a dict": _mutate(("config",), "x"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_qobj_raises_value_error(case):
    qobj = MALFORMED[case]()
    with pytest.raises(ValueError):
        circuits_from_qobj(qobj)
        simulate_qobj(qobj, seed=1)  # shots are checked at simulation time


def test_unsupported_circuits_raise_value_error():
    theta = Parameter("t")
    unbound = QuantumCircuit(1)
    unbound.rx(theta, 0)
    with pytest.raises(ValueError, match="unbound"):
        qobj_from_circuits(unbound)
    custom = QuantumCircuit(1)
    custom.append(Gate("mygate", 1, []), [0])
    with pytest.raises(ValueError, match="standard gate"):
        qobj_from_circuits(custom)
    with pytest.raises(ValueError):
        qobj_from_circuits([])
    with pytest.raises(ValueError):
        qobj_from_circuits(bell(), shots=0)
    meta = bell()
    meta.metadata = {"x": object()}
    with pytest.raises(ValueError, match="metadata"):
        qobj_from_circuits(meta)


def test_an_empty_register_survives_the_round_trip():
    # qiskit-terra's disassemble keeps a register of size 0 that the header lists (and the
    # server echoes that header into the result): the rebuilt circuit is the original.
    qc = QuantumCircuit(QuantumRegister(2, "q"), QuantumRegister(0, "anc"),
                        ClassicalRegister(0, "e"), ClassicalRegister(2, "c"), name="empty-regs")
    qc.h(0)
    qc.measure([0, 1], [0, 1])
    qobj = qobj_from_circuits(qc, qobj_id="q-e")
    assert qobj["experiments"][0]["header"]["creg_sizes"] == [["e", 0], ["c", 2]]
    back = circuits_from_qobj(qobj)[0]
    assert [r.name for r in back.cregs] == ["e", "c"] and [r.name for r in back.qregs] == ["q", "anc"]
    assert back == qc
    assert qobj_from_circuits(back, qobj_id="q-e") == qobj
    # Registers made up for a header without any (old qobjs) still have no empty one.
    bare = {"qobj_id": "old", "type": "QASM", "config": {"shots": 10},
            "experiments": [{"instructions": [{"name": "h", "qubits": [0]}]}]}
    assert circuits_from_qobj(bare)[0].cregs == []
