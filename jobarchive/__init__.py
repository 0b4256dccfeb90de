"""jobarchive: a persistent, queryable archive of IBM Quantum jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qiskit.providers import JobStatus

from . import exceptions as _exceptions
from .exceptions import *  # noqa: F403

if TYPE_CHECKING:
    from .archive import Archive
    from .job import IBMQJob, QueueInfo, job_monitor
    from .provider import connect, least_busy

# Heavy modules load on first use so `import jobarchive.emulator` stays light.
_LAZY = {
    "Archive": ".archive",
    "IBMQJob": ".job",
    "QueueInfo": ".job",
    "job_monitor": ".job",
    "connect": ".provider",
    "least_busy": ".provider",  # upstream's qiskit.providers.ibmq.least_busy
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jobarchive' has no attribute {name!r}")


__all__ = ["Archive", "IBMQJob", "JobStatus", "QueueInfo", "connect", "job_monitor", "least_busy"] + [
    n for n, v in vars(_exceptions).items() if isinstance(v, type) and issubclass(v, Exception)
]
__version__ = "0.1.0"
