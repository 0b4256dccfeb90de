"""Server status strings, their JobStatus, job kinds and share levels (no I/O here).

Shared by the client and the emulator: it imports nothing from either.
"""

from __future__ import annotations

from enum import StrEnum

from qiskit.providers import JobStatus

# Server status string -> qiskit JobStatus (reference §2.1).
API_TO_JOB_STATUS: dict[str, JobStatus] = {
    "CREATING": JobStatus.INITIALIZING,
    "CREATED": JobStatus.INITIALIZING,
    "TRANSPILING": JobStatus.INITIALIZING,
    "TRANSPILED": JobStatus.INITIALIZING,
    "VALIDATING": JobStatus.VALIDATING,
    "VALIDATED": JobStatus.VALIDATING,
    "PENDING_IN_QUEUE": JobStatus.QUEUED,
    "QUEUED": JobStatus.QUEUED,
    "RUNNING": JobStatus.RUNNING,
    "COMPLETED": JobStatus.DONE,
    "CANCELLED": JobStatus.CANCELLED,
    "ERROR_CREATING_JOB": JobStatus.ERROR,
    "ERROR_VALIDATING_JOB": JobStatus.ERROR,
    "ERROR_RUNNING_JOB": JobStatus.ERROR,
    "ERROR_TRANSPILING_JOB": JobStatus.ERROR,
}
API_STATUSES: tuple[str, ...] = tuple(API_TO_JOB_STATUS)

JOB_FINAL_STATES: tuple[JobStatus, ...] = (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.ERROR)
API_FINAL_STATUSES: frozenset[str] = frozenset(
    s for s, js in API_TO_JOB_STATUS.items() if js in JOB_FINAL_STATES
)
# Errors before the job ran: the server has no result to hand out.
API_ERRORS_WITHOUT_RESULT: frozenset[str] = frozenset(
    {"ERROR_CREATING_JOB", "ERROR_VALIDATING_JOB", "ERROR_TRANSPILING_JOB"}
)

# The nominal path of a job, in order (reference §2.1).
LIFECYCLE: tuple[str, ...] = (
    "CREATING", "CREATED", "VALIDATING", "VALIDATED", "QUEUED", "RUNNING", "COMPLETED",
)


def to_job_status(api_status: str) -> JobStatus:
    """Map a server status string (any case) to JobStatus; ValueError if unknown."""
    try:
        return API_TO_JOB_STATUS[api_status.upper()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"{api_status!r} is not a valid server job status. Valid values are "
            + ", ".join(API_STATUSES)
        ) from None


def api_statuses_for(status: JobStatus) -> tuple[str, ...]:
    """Every server status string that maps to ``status``."""
    return tuple(s for s, js in API_TO_JOB_STATUS.items() if js is status)


def parse_job_status(value: JobStatus | str) -> JobStatus:
    """A JobStatus from itself or its name (case-insensitive); ValueError otherwise."""
    if isinstance(value, JobStatus):
        return value
    if isinstance(value, str):
        try:
            return JobStatus[value.upper()]
        except KeyError:
            pass
    raise ValueError(
        f'"{value}" is not a valid status value. Valid values are '
        + ", ".join(s.name for s in JobStatus)
    )


class ApiJobKind(StrEnum):
    """Job kinds. ``runtime`` is not in the 0.11.1 enum but real 2024 documents carry it."""

    QOBJECT = "q-object"
    QOBJECT_STORAGE = "q-object-external-storage"
    CIRCUIT = "q-circuit"
    RUNTIME = "runtime"


class ApiJobShareLevel(StrEnum):
    """Share levels a job can be given."""

    GLOBAL = "global"
    HUB = "hub"
    GROUP = "group"
    PROJECT = "project"
    NONE = "none"


JOB_KINDS: tuple[str, ...] = tuple(k.value for k in ApiJobKind)
SHARE_LEVELS: tuple[str, ...] = tuple(s.value for s in ApiJobShareLevel)
JOBSET_TAG_PREFIX = "ibmq_jobset_"

__all__ = [
    "API_FINAL_STATUSES", "API_STATUSES", "API_TO_JOB_STATUS", "ApiJobKind", "ApiJobShareLevel",
    "JOBSET_TAG_PREFIX", "JOB_FINAL_STATES", "JOB_KINDS", "JobStatus", "LIFECYCLE",
    "SHARE_LEVELS", "api_statuses_for", "parse_job_status", "to_job_status",
]
