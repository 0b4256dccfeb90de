"""QASM Qobj as plain dicts: build from circuits, read back, and simulate.

qiskit 1.0 removed ``qiskit.qobj``, ``assemble`` and ``disassemble``, yet every archived job
and the legacy wire protocol carry qobjs. These helpers speak that format with plain dicts
and work on qiskit 2.x as well as qiskit-terra 0.46. They import only qiskit (and numpy).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit.library import get_standard_gate_name_mapping

__all__ = ["circuits_from_qobj", "qobj_from_circuits", "simulate_qobj"]

QOBJ_SCHEMA_VERSION = "1.3.0"
_SEED_MODULUS = 2**31 - 1  # BasicSimulator (and Windows numpy) want an int32 seed

# Instructions the qobj carries besides unitary gates; everything else must be a standard gate.
_NON_GATES = {"measure", "barrier", "reset"}
# Spellings found in old qobjs (QX API v1 era) mapped to today's gate names.
_ALIASES = {"CX": "cx", "U": "u", "u0": "id", "iden": "id"}


@lru_cache(maxsize=1)
def _gate_map() -> dict[str, Any]:
    # Read-only templates (name, arity, parameter count, class); building it is costly.
    return get_standard_gate_name_mapping()


def _json_value(value: Any, what: str) -> Any:
    """A JSON-only deep copy of ``value`` (ValueError if it has other types)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serializable: {exc}") from None


def _param_value(param: Any, where: str) -> float:
    """A bound gate parameter as a float (unbound or complex parameters are refused)."""
    if isinstance(param, bool):
        raise ValueError(f"{where}: boolean parameter {param!r}")
    if isinstance(param, numbers.Real):
        value = float(param)
    else:
        try:
            value = float(param)  # bound ParameterExpression, numpy scalars
        except (TypeError, ValueError):
            raise ValueError(
                f"{where}: parameter {param!s} is unbound or not a real number; "
                "bind parameters (assign_parameters) before building a qobj"
            ) from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: parameter {value!r} is not finite")
    return value


# Delay durations in a qobj carry no unit: an int is in dt (scheduled circuits, what real
# device jobs ran), a float in seconds (what terra's assemble wrote for a delay in s).
_SECONDS_PER = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12}


def _delay_duration(op: Any, where: str) -> int | float:
    """A Delay's duration as a qobj writes it: an int in dt, else a float in seconds."""
    unit, duration = getattr(op, "unit", "dt"), op.params[0] if op.params else None
    if unit == "dt" and isinstance(duration, numbers.Integral) and not isinstance(duration, bool):
        return int(duration)
    if unit not in _SECONDS_PER:
        raise ValueError(f"{where}: a delay in {unit!r} has no qobj form; use dt or seconds")
    value = _param_value(duration, where)
    return value if unit == "s" else value * _SECONDS_PER[unit]


def _delay_from_qobj(params: list, where: str) -> Any:
    """The Delay of a qobj 'delay' instruction (see ``_delay_duration``)."""
    from qiskit.circuit import Delay

    if len(params) != 1:
        raise ValueError(f"{where} (delay): expected 1 param (the duration), got {len(params)}")
    value = params[0]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where} (delay): duration {value!r} is not a non-negative number")
    if isinstance(value, numbers.Integral):
        return Delay(int(value), "dt")
    return Delay(float(value), "s")


def _experiment_from_circuit(circuit: QuantumCircuit, index: int) -> dict[str, Any]:
    if not isinstance(circuit, QuantumCircuit):
        raise ValueError(
            f"experiment {index}: expected a QuantumCircuit, got {type(circuit).__name__}"
        )
    gates = _gate_map()
    qubit_index = {bit: i for i, bit in enumerate(circuit.qubits)}
    clbit_index = {bit: i for i, bit in enumerate(circuit.clbits)}
    # Bits that belong to no register cannot be labelled in a qobj header.
    in_qregs = {bit for reg in circuit.qregs for bit in reg}
    in_cregs = {bit for reg in circuit.cregs for bit in reg}
    if len(in_qregs) != len(circuit.qubits) or len(in_cregs) != len(circuit.clbits):
        raise ValueError(
            f"circuit {circuit.name!r}: every qubit and clbit must belong to a register"
        )
    if sum(r.size for r in circuit.qregs) != len(circuit.qubits) or sum(
        r.size for r in circuit.cregs
    ) != len(circuit.clbits):
        raise ValueError(f"circuit {circuit.name!r}: overlapping registers are not supported")

    instructions: list[dict[str, Any]] = []
    for pos, item in enumerate(circuit.data):
        op = item.operation
        name = op.name
        where = f"circuit {circuit.name!r}, instruction {pos} ({name})"
        if getattr(op, "condition", None) is not None:
            raise ValueError(f"{where}: classically conditioned operations are not supported")
        qubits = [qubit_index[q] for q in item.qubits]
        if name == "delay":  # its duration is its one parameter, in dt or seconds
            instructions.append({"name": name, "params": [_delay_duration(op, where)],
                                 "qubits": qubits})
            continue
        if name not in _NON_GATES and name not in gates:
            raise ValueError(
                f"{where}: not a standard gate; transpile the circuit to standard gates first"
            )
        if name == "global_phase":
            raise ValueError(f"{where}: not representable in a QASM qobj")
        inst: dict[str, Any] = {"name": name, "qubits": qubits}
        if name == "measure":
            inst["memory"] = [clbit_index[c] for c in item.clbits]
        elif item.clbits:
            raise ValueError(f"{where}: only measure may write classical bits")
        if op.params and name != "barrier":
            inst["params"] = [_param_value(p, where) for p in op.params]
        instructions.append(inst)

    n_qubits = circuit.num_qubits
    memory_slots = circuit.num_clbits
    header = {
        "name": circuit.name,
        "n_qubits": n_qubits,
        "qreg_sizes": [[r.name, r.size] for r in circuit.qregs],
        "creg_sizes": [[r.name, r.size] for r in circuit.cregs],
        "qubit_labels": [[r.name, j] for r in circuit.qregs for j in range(r.size)],
        "clbit_labels": [[r.name, j] for r in circuit.cregs for j in range(r.size)],
        "memory_slots": memory_slots,
        "global_phase": _param_value(
            circuit.global_phase, f"circuit {circuit.name!r} global phase"
        ),
        "metadata": _json_value(circuit.metadata or {}, f"circuit {circuit.name!r} metadata"),
    }
    return {
        "header": header,
        "config": {"n_qubits": n_qubits, "memory_slots": memory_slots},
        "instructions": instructions,
    }


def qobj_from_circuits(
    circuits: QuantumCircuit | Iterable[QuantumCircuit],
    shots: int = 1024,
    qobj_id: str | None = None,
    seed_simulator: int | None = None,
    memory: bool = False,
) -> dict[str, Any]:
    """Build a QASM Qobj (a JSON-only dict, the shape the IBM server accepted) from circuits.

    Circuits must use standard gates (transpile them first otherwise) with bound parameters;
    measure, barrier and reset are kept. Raises ValueError for anything a qobj cannot carry.
    """
    if isinstance(circuits, QuantumCircuit):
        circuits = [circuits]
    circuits = list(circuits)
    if not circuits:
        raise ValueError("a qobj needs at least one circuit")
    if isinstance(shots, bool) or not isinstance(shots, numbers.Integral) or shots < 1:
        raise ValueError(f"shots must be a positive integer, got {shots!r}")
    experiments = [_experiment_from_circuit(c, i) for i, c in enumerate(circuits)]
    config: dict[str, Any] = {
        "shots": int(shots),
        "memory": bool(memory),
        "memory_slots": max(e["config"]["memory_slots"] for e in experiments),
        "n_qubits": max(e["config"]["n_qubits"] for e in experiments),
        "init_qubits": True,
        "parameter_binds": [],
    }
    if seed_simulator is not None:
        config["seed_simulator"] = int(seed_simulator)
    return {
        "qobj_id": str(qobj_id) if qobj_id is not None else str(uuid.uuid4()),
        "schema_version": QOBJ_SCHEMA_VERSION,
        "type": "QASM",
        "header": {},
        "config": config,
        "experiments": experiments,
    }


# ---------------------------------------------------------------------------------------------
# qobj -> circuits


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if not _is_index(value):
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _sizes_from_labels(labels: Any, what: str) -> list[tuple[str, int]]:
    """[[name, size], ...] from [[name, index], ...] labels (consecutive runs per register)."""
    sizes: list[list[Any]] = []
    for label in labels:
        if not (isinstance(label, list | tuple) and len(label) == 2 and isinstance(label[0], str)):
            raise ValueError(f"malformed {what} entry {label!r}")
        if sizes and sizes[-1][0] == label[0]:
            sizes[-1][1] += 1
        else:
            sizes.append([label[0], 1])
    return [(n, s) for n, s in sizes]


def _register_sizes(header: Mapping, sizes_key: str, labels_key: str, what: str) -> list | None:
    raw = header.get(sizes_key)
    if raw is None:
        labels = header.get(labels_key)
        if labels is None:
            return None
        if not isinstance(labels, list):
            raise ValueError(f"{what}: {labels_key} must be a list")
        return _sizes_from_labels(labels, f"{what} {labels_key}")
    if not isinstance(raw, list):
        raise ValueError(f"{what}: {sizes_key} must be a list")
    out = []
    for entry in raw:
        if not (
            isinstance(entry, list | tuple)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and _is_index(entry[1])
        ):
            raise ValueError(f"{what}: malformed {sizes_key} entry {entry!r}")
        out.append((entry[0], entry[1]))
    return out


def _make_registers(kind: type, sizes: list, what: str, keep_empty: bool = True) -> list:
    """Registers of ``sizes``; a size-0 one the header lists is kept (as qiskit-terra's
    disassemble does), one made up for a header without registers is not."""
    regs = []
    seen = set()
    for name, size in sizes:
        if name in seen:
            raise ValueError(f"{what}: register {name!r} appears twice")
        seen.add(name)
        if size == 0 and not keep_empty:
            continue
        try:
            regs.append(kind(size, name))
        except Exception as exc:  # qiskit's CircuitError for a bad register name
            raise ValueError(f"{what}: invalid register {name!r}: {exc}") from None
    return regs


def _circuit_from_experiment(exp: Any, index: int, qobj_config: Mapping) -> QuantumCircuit:
    what = f"qobj experiment {index}"
    if not isinstance(exp, Mapping):
        raise ValueError(f"{what} is not an object")
    header = exp.get("header") or {}
    config = exp.get("config") or {}
    instructions = exp.get("instructions")
    if not isinstance(header, Mapping) or not isinstance(config, Mapping):
        raise ValueError(f"{what}: header and config must be objects")
    if not isinstance(instructions, list):
        raise ValueError(f"{what}: 'instructions' must be a list")
    for i, inst in enumerate(instructions):
        if not isinstance(inst, Mapping) or not isinstance(inst.get("name"), str):
            raise ValueError(f"{what}, instruction {i}: expected an object with a 'name'")
        qubits = inst.get("qubits", [])
        if not isinstance(qubits, list) or not all(_is_index(q) for q in qubits):
            raise ValueError(f"{what}, instruction {i}: 'qubits' must be a list of indices")
        memory = inst.get("memory", [])
        if not isinstance(memory, list) or not all(_is_index(m) for m in memory):
            raise ValueError(f"{what}, instruction {i}: 'memory' must be a list of indices")

    # Widths: the header says it best, then the configs, then the instructions themselves.
    used_q = max((q + 1 for inst in instructions for q in inst.get("qubits", [])), default=0)
    used_c = max((m + 1 for inst in instructions for m in inst.get("memory", [])), default=0)
    qsizes = _register_sizes(header, "qreg_sizes", "qubit_labels", what)
    csizes = _register_sizes(header, "creg_sizes", "clbit_labels", what)
    q_listed, c_listed = qsizes is not None, csizes is not None
    if qsizes is None:
        # The qobj-level n_qubits of a device job is the whole chip: use it only as a fallback
        # to what the instructions touch.
        n = _count(header.get("n_qubits"), f"{what}: n_qubits")
        if n is None:
            n = _count(config.get("n_qubits"), f"{what}: n_qubits")
        qsizes = [("q", used_q if n is None else n)]
    if csizes is None:
        n = None
        for source in (header, config, qobj_config):
            n = _count(source.get("memory_slots"), f"{what}: memory_slots")
            if n is not None:
                break
        csizes = [("c", max(n or 0, used_c))]
    qregs = _make_registers(QuantumRegister, qsizes, what, keep_empty=q_listed)
    cregs = _make_registers(ClassicalRegister, csizes, what, keep_empty=c_listed)
    name = header.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"{what}: header name must be a string")
    try:
        circuit = QuantumCircuit(*qregs, *cregs, name=name or f"circuit-{index}")
    except Exception as exc:
        raise ValueError(f"{what}: cannot build circuit: {exc}") from None
    nq, nc = circuit.num_qubits, circuit.num_clbits
    if used_q > nq or used_c > nc:
        raise ValueError(
            f"{what}: instructions use {used_q} qubits / {used_c} memory slots but the header "
            f"declares {nq} / {nc}"
        )
    phase = header.get("global_phase", 0.0)
    if phase is not None:
        circuit.global_phase = _param_value(phase, f"{what} global_phase")
    metadata = header.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ValueError(f"{what}: header metadata must be an object")
        circuit.metadata = dict(metadata)

    gates = _gate_map()
    for i, inst in enumerate(instructions):
        where = f"{what}, instruction {i}"
        name = _ALIASES.get(inst["name"], inst["name"])
        if "conditional" in inst or name in ("bfunc", "copy"):
            raise ValueError(f"{where}: classically conditioned instructions are not supported")
        qubits = [circuit.qubits[q] for q in inst.get("qubits", [])]
        if len(set(inst.get("qubits", []))) != len(qubits):
            raise ValueError(f"{where} ({name}): repeated qubit")
        params = inst.get("params", [])
        if not isinstance(params, list):
            raise ValueError(f"{where} ({name}): 'params' must be a list")
        if name == "measure":
            memory = inst.get("memory")
            if memory is None or len(memory) != len(qubits) or not qubits:
                raise ValueError(f"{where}: measure needs as many 'memory' slots as 'qubits'")
            circuit.measure(qubits, [circuit.clbits[m] for m in memory])
        elif name == "barrier":
            circuit.barrier(*qubits)
        elif name == "delay":
            delay = _delay_from_qobj(params, where)
            if not qubits:
                raise ValueError(f"{where} (delay): needs qubits")
            for q in qubits:
                circuit.append(delay, [q])
        elif name == "reset":
            if not qubits:
                raise ValueError(f"{where}: reset needs qubits")
            for q in qubits:
                circuit.reset(q)
        elif name in gates and name not in ("delay", "global_phase"):
            template = gates[name]
            values = [_param_value(p, f"{where} ({name})") for p in params]
            if len(values) != len(template.params):
                raise ValueError(
                    f"{where} ({name}): expected {len(template.params)} params, got {len(values)}"
                )
            if len(qubits) != template.num_qubits:
                raise ValueError(
                    f"{where} ({name}): expected {template.num_qubits} qubits, got {len(qubits)}"
                )
            cls = getattr(template, "base_class", type(template))
            circuit.append(cls(*values), qubits)
        else:
            raise ValueError(f"{where}: unsupported instruction {inst['name']!r}")
    return circuit


def circuits_from_qobj(qobj: Mapping[str, Any]) -> list[QuantumCircuit]:
    """The circuits of a QASM Qobj dict (the inverse of :func:`qobj_from_circuits`).

    Accepts qobjs as the server stored them, including old ones whose headers lack register
    information. Raises ValueError with the reason for anything malformed or unsupported
    (pulse qobjs, conditional instructions, unknown gates).
    """
    if not isinstance(qobj, Mapping):
        raise ValueError(f"a qobj must be a dict, got {type(qobj).__name__}")
    kind = qobj.get("type", "QASM")
    if kind != "QASM":
        raise ValueError(f"unsupported qobj type {kind!r}: only QASM qobjs are supported")
    experiments = qobj.get("experiments")
    if not isinstance(experiments, list) or not experiments:
        raise ValueError("malformed qobj: 'experiments' must be a non-empty list")
    config = qobj.get("config") or {}
    if not isinstance(config, Mapping):
        raise ValueError("malformed qobj: 'config' must be an object")
    return [_circuit_from_experiment(e, i, config) for i, e in enumerate(experiments)]


# ---------------------------------------------------------------------------------------------
# simulation


def _shots_of(qobj: Mapping, exp: Mapping) -> int:
    for source in (exp.get("config") or {}, qobj.get("config") or {}):
        shots = source.get("shots")
        if shots is not None:
            if not _is_index(shots) or shots < 1:
                raise ValueError(f"malformed qobj: shots must be a positive integer, got {shots!r}")
            return shots
    return 1024


def _check_meas_level(qobj: Mapping, exp: Mapping, index: int) -> None:
    """Refuse an experiment that asked for kerneled (1) or raw (0) data: a simulator gives
    outcomes only, and counts would pass for what the qobj asked."""
    for source in (exp.get("config") or {}, qobj.get("config") or {}):
        level = source.get("meas_level")
        if level is not None:
            if level != 2:
                raise ValueError(
                    f"qobj experiment {index} asks for meas_level {level!r} (IQ points or raw "
                    "traces); a simulation gives outcomes only (meas_level 2)")
            return


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def simulate_qobj(
    qobj: Mapping[str, Any],
    seed: int | None = None,
    backend_name: str = "ibmq_qasm_simulator",
    backend_version: str = "0.1.0",
    job_id: str | None = None,
    date: str | None = None,
) -> dict[str, Any]:
    """Run a QASM Qobj on qiskit's BasicSimulator; return the server's Result JSON dict.

    Counts use hex keys (``"0x3"``) like the real server. Experiment ``i`` runs with seed
    ``seed + i`` (``seed`` defaults to the qobj's ``config.seed_simulator``, else random) and
    records it as ``seed_simulator``, so passing the same seed reproduces the counts exactly.
    Experiment headers are echoed from the qobj. Raises ValueError for an unsupported qobj
    (pulse, or one asking for IQ or raw data: meas_level 0 or 1).
    """
    from qiskit.providers.basic_provider import BasicSimulator

    circuits = circuits_from_qobj(qobj)
    config = qobj.get("config") or {}
    if seed is None:
        seed = config.get("seed_simulator")
    if seed is None:
        seed = int.from_bytes(uuid.uuid4().bytes[:4], "big") % _SEED_MODULUS
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    want_memory = bool(config.get("memory", False))
    backend = BasicSimulator()
    supported = set(backend.target.operation_names) | {"barrier", "measure", "reset", "id"}

    for i, exp in enumerate(qobj["experiments"]):
        _check_meas_level(qobj, exp, i)
    started = time.perf_counter()
    results = []
    for i, (circuit, exp) in enumerate(zip(circuits, qobj["experiments"], strict=True)):
        shots = _shots_of(qobj, exp)
        exp_seed = (int(seed) + i) % _SEED_MODULUS
        run_circuit = circuit
        if any(inst.operation.name == "delay" for inst in circuit.data):
            # An idle leaves an ideal state as it is; terra 0.46's simulator cannot run one.
            run_circuit = circuit.copy_empty_like()
            for inst in circuit.data:
                if inst.operation.name != "delay":
                    run_circuit.append(inst)
        if any(inst.operation.name not in supported for inst in run_circuit.data):
            # Older BasicSimulator versions know fewer gates; their basis keeps qubit order.
            run_circuit = transpile(run_circuit, backend=backend, optimization_level=0)
        t0 = time.perf_counter()
        hex_memory: list[str] = []
        hex_counts: Counter[str] = Counter()
        # Nothing measured: the server returned empty counts (BasicSimulator may refuse).
        if circuit.num_clbits:
            sim = backend.run(run_circuit, shots=shots, seed_simulator=exp_seed,
                              memory=want_memory)
            data = sim.result().results[0].data
            if want_memory:
                hex_memory = [hex(int(str(v), 16)) for v in data.memory]
                hex_counts.update(hex_memory)
            else:
                for key, n in (data.counts or {}).items():
                    hex_counts[hex(int(str(key), 16))] += int(n)
        counts = dict(sorted(hex_counts.items(), key=lambda kv: int(kv[0], 16)))
        data_out: dict[str, Any] = {"counts": counts}
        if want_memory:
            data_out["memory"] = hex_memory
        results.append(
            {
                "shots": shots,
                "success": True,
                "status": "DONE",
                "header": json.loads(json.dumps(exp.get("header") or {}, default=str)),
                "data": data_out,
                "meas_level": 2,
                "seed_simulator": exp_seed,
                "time_taken": time.perf_counter() - t0,
            }
        )
    return {
        "backend_name": backend_name,
        "backend_version": backend_version,
        "qobj_id": str(qobj.get("qobj_id", "")),
        "job_id": job_id if job_id is not None else str(uuid.uuid4()),
        "success": True,
        "status": "COMPLETED",
        "date": date if date is not None else _utc_now(),
        "header": json.loads(json.dumps(qobj.get("header") or {}, default=str)),
        "results": results,
        "time_taken": time.perf_counter() - started,
    }
