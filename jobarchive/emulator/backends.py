"""The emulator's backends: configurations, properties and queue status (emulator data only).

Configurations follow the QASM backend configuration format that qiskit-ibmq-provider
validates with ``QasmBackendConfiguration.from_dict`` (required: backend_name,
backend_version, n_qubits, basis_gates, gates, local, simulator, conditional, open_pulse,
memory, max_shots, coupling_map). Written for the emulator, not copied from a server.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class BackendSpec:
    """What the emulator needs to know about one backend."""

    name: str
    backend_id: str
    version: str
    n_qubits: int
    simulator: bool
    coupling_map: tuple[tuple[int, int], ...] | None
    description: str
    online: tuple[int, int]          # (first, last) year-month as YYYYMM in which jobs ran on it
    retired: bool = False             # in the job history but no longer served by devices/v/1


_LINE5 = ((0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3))
_T5 = ((0, 1), (1, 0), (1, 2), (1, 3), (2, 1), (3, 1), (3, 4), (4, 3))
_MELB = tuple((a, b) for a in range(14) for b in (a - 1, a + 1) if 0 <= b < 14)

BACKENDS: tuple[BackendSpec, ...] = (
    BackendSpec("ibmq_qasm_simulator", "5ae875670f020500393162ad", "0.1.547", 32, True, None,
                "A C++ simulator with realistic noise for general quantum circuits",
                (201901, 202312)),
    BackendSpec("ibmq_athens", "5e8f00c7a4b9b1001a8d6a21", "1.3.16", 5, False, _LINE5,
                "5 qubit device", (202005, 202212)),
    BackendSpec("ibmq_lima", "6026a58d9be4e2c3b1a8e1f1", "1.0.21", 5, False, _T5,
                "5 qubit device Lima", (202101, 202312)),
    BackendSpec("ibmq_belem", "6026a5b19be4e2c3b1a8e1f2", "1.0.22", 5, False, _T5,
                "5 qubit device Belem", (202101, 202312)),
    BackendSpec("ibmq_16_melbourne", "5ae875670f020500393162b3", "2.3.24", 14, False, _MELB,
                "14 qubit device", (201901, 202107), retired=True),
)
BY_NAME: dict[str, BackendSpec] = {b.name: b for b in BACKENDS}
ACTIVE: tuple[BackendSpec, ...] = tuple(b for b in BACKENDS if not b.retired)

DEVICE_BASIS = ("id", "rz", "sx", "x", "cx", "reset")
SIM_BASIS = ("u1", "u2", "u3", "u", "p", "rx", "ry", "rz", "id", "x", "y", "z", "h", "s", "sdg",
             "sx", "t", "tdg", "swap", "cx", "cy", "cz", "ccx", "cswap", "reset", "delay")

_GATE_DEFS = {
    "id": ([], "gate id q { U(0, 0, 0) q; }"),
    "rz": (["theta"], "gate rz(theta) q { U(0, 0, theta) q; }"),
    "sx": ([], "gate sx q { U(pi/2, 3*pi/2, pi/2) q; }"),
    "x": ([], "gate x q { U(pi, 0, pi) q; }"),
    "cx": ([], "gate cx q0, q1 { CX q0, q1; }"),
    "u1": (["lambda"], "gate u1(lambda) q { U(0, 0, lambda) q; }"),
    "u2": (["phi", "lambda"], "gate u2(phi, lambda) q { U(pi/2, phi, lambda) q; }"),
    "u3": (["theta", "phi", "lambda"], "gate u3(theta, phi, lambda) q { U(theta, phi, lambda) q; }"),
    "h": ([], "gate h q { U(pi/2, 0, pi) q; }"),
}


def configuration(spec: BackendSpec) -> dict[str, Any]:
    """The configuration dict ``GET {P}/devices/v/1`` lists for a backend."""
    basis = SIM_BASIS if spec.simulator else DEVICE_BASIS
    gates = []
    for g in basis:
        params, qasm = _GATE_DEFS.get(g, ([], None))
        gate: dict[str, Any] = {"name": g, "parameters": list(params), "qasm_def": qasm}
        if not spec.simulator and spec.coupling_map is not None:
            gate["coupling_map"] = ([list(p) for p in spec.coupling_map] if g == "cx"
                                    else [[q] for q in range(spec.n_qubits)])
        gates.append(gate)
    conf: dict[str, Any] = {
        "backend_name": spec.name,
        "backend_version": spec.version,
        "n_qubits": spec.n_qubits,
        "basis_gates": list(basis),
        "gates": gates,
        "local": False,
        "simulator": spec.simulator,
        "conditional": spec.simulator,
        "open_pulse": False,
        "memory": True,
        "max_shots": 8192 if not spec.simulator else 100000,
        "max_experiments": 75 if not spec.simulator else 300,
        "coupling_map": None if spec.coupling_map is None else [list(p) for p in spec.coupling_map],
        "description": spec.description,
        "credits_required": not spec.simulator,
        "online_date": _yyyymm_iso(spec.online[0]),
        "sample_name": "emulated" if not spec.simulator else "simulator",
        "n_registers": 1,
        "allow_q_object": True,
        "allow_object_storage": True,
        "conditional_latency": [],
        "acquisition_latency": [],
        "supported_instructions": list(basis) + ["measure", "barrier"],
        "url": "None",
    }
    if not spec.simulator:
        conf.update({
            "quantum_volume": 32 if spec.n_qubits == 5 else 8,
            "processor_type": {"family": "Falcon", "revision": 4, "segment": "T"},
            "dynamic_reprate_enabled": True,
            "rep_delay_range": [0.0, 500.0],
            "default_rep_delay": 250.0,
            "dt": 0.2222222222222222,
            "dtm": 0.2222222222222222,
        })
    return conf


def _yyyymm_iso(yyyymm: int) -> str:
    return f"{yyyymm // 100:04d}-{yyyymm % 100:02d}-01T00:00:00Z"


def properties(spec: BackendSpec, at_ms: int) -> dict[str, Any]:
    """Calibration data of a device for the day containing ``at_ms`` ({} for simulators).

    Deterministic per (backend, day), so the same job always reports the same properties.
    """
    if spec.simulator:
        return {}
    day = at_ms // 86_400_000
    rng = random.Random(f"{spec.name}:{day}")
    stamp = datetime.fromtimestamp(day * 86_400 + 3 * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def item(name: str, unit: str, value: float) -> dict[str, Any]:
        return {"date": stamp, "name": name, "unit": unit, "value": value}

    qubits = []
    for _ in range(spec.n_qubits):
        qubits.append([
            item("T1", "us", round(rng.uniform(40, 140), 3)),
            item("T2", "us", round(rng.uniform(30, 160), 3)),
            item("frequency", "GHz", round(rng.uniform(4.6, 5.3), 6)),
            item("readout_error", "", round(rng.uniform(0.01, 0.06), 4)),
            item("prob_meas0_prep1", "", round(rng.uniform(0.01, 0.08), 4)),
            item("prob_meas1_prep0", "", round(rng.uniform(0.005, 0.04), 4)),
        ])
    gates = []
    for q in range(spec.n_qubits):
        for g in ("id", "sx", "x"):
            gates.append({"qubits": [q], "gate": g, "name": f"{g}{q}", "parameters": [
                item("gate_error", "", round(rng.uniform(2e-4, 1e-3), 6)),
                item("gate_length", "ns", 35.55555555555556)]})
        gates.append({"qubits": [q], "gate": "rz", "name": f"rz{q}", "parameters": [
            item("gate_error", "", 0.0), item("gate_length", "ns", 0.0)]})
    for a, b in spec.coupling_map or ():
        gates.append({"qubits": [a, b], "gate": "cx", "name": f"cx{a}_{b}", "parameters": [
            item("gate_error", "", round(rng.uniform(5e-3, 2e-2), 6)),
            item("gate_length", "ns", round(rng.uniform(250, 600), 3))]})
    return {"backend_name": spec.name, "backend_version": spec.version,
            "last_update_date": stamp, "qubits": qubits, "gates": gates,
            "general": [{"date": stamp, "name": "jq_01", "unit": "GHz", "value": 0.0}]}


def readout_error(spec: BackendSpec, at_ms: int) -> float:
    """A per-day readout error (0.2%-1.4%) that makes synthetic device counts plausibly noisy.

    Small enough that most seeded jobs pass a reproducibility audit at fidelity 0.95, large
    enough that a noisy day on a 5-qubit circuit does not.
    """
    if spec.simulator:
        return 0.0
    day = at_ms // 86_400_000
    return 0.002 + 0.012 * (0.5 + 0.5 * math.sin(day * 0.37 + len(spec.name)))
