"""The exception tree: one base, ``IBMQError``, under qiskit's ``QiskitError``.

The ``IBMQ*`` names and their parents follow qiskit-ibmq-provider 0.11.1 so code written
against it keeps catching what it caught. Archive errors hang off the same base and also
subclass the built-in a caller would reach for first (``KeyError``, ``ValueError``).
"""

from __future__ import annotations

from qiskit.exceptions import QiskitError
from qiskit.providers import JobError, JobTimeoutError


class IBMQError(QiskitError):
    """Base of every error jobarchive raises."""

    def __str__(self) -> str:
        return self.message


JobArchiveError = IBMQError


# --- job ---------------------------------------------------------------------------


class IBMQJobError(JobError, IBMQError):
    """Base class for errors raised by IBMQJob."""


class IBMQJobApiError(IBMQJobError):
    """Server or network trouble, or data from the server that cannot be read."""


class IBMQJobFailureError(IBMQJobError):
    """The job ended in an ERROR state."""


class IBMQJobInvalidStateError(IBMQJobError):
    """The job is in a state, or was given input, that the operation cannot accept."""


class IBMQJobTimeoutError(JobTimeoutError, IBMQJobError):
    """Waiting for the job timed out."""


# --- api ---------------------------------------------------------------------------


class ApiError(IBMQError):
    """An error talking to the server."""


# The server's error code for an unknown job (reference §3.0), with HTTP 404.
JOB_NOT_FOUND_CODE = 3250


class RequestsApiError(ApiError):
    """An HTTP or transport error; ``status_code`` is -1 when no response came back."""

    def __init__(self, message: str, status_code: int = -1, error_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code


class ApiIBMQProtocolError(ApiError):
    """The server answered with something that does not follow the protocol."""


class AuthenticationLicenseError(ApiError):
    """The account must accept the license before logging in."""


# Upstream's tree (reference §5) has these too. jobarchive polls over HTTP and keeps no
# account files, so it never raises them; they exist so that code written for
# qiskit-ibmq-provider that catches them imports and runs unchanged.
class WebsocketError(ApiError):
    """A websocket error (upstream's job status stream; not raised by jobarchive)."""


class WebsocketIBMQProtocolError(WebsocketError):
    """A websocket message that does not follow the protocol (not raised by jobarchive)."""


class WebsocketAuthenticationError(WebsocketError):
    """The websocket refused the token (not raised by jobarchive)."""


class WebsocketTimeoutError(WebsocketError):
    """The websocket timed out (not raised by jobarchive)."""


class UserTimeoutExceededError(ApiError):
    """A user-given timeout ran out (upstream's websocket wait; not raised by jobarchive)."""


# --- backend / provider / account --------------------------------------------------


class IBMQBackendError(IBMQError):
    """Base class for backend errors."""


class IBMQBackendApiError(IBMQBackendError):
    """The server refused or failed a backend request."""


class IBMQBackendApiProtocolError(IBMQBackendApiError):
    """The server's answer to a backend request could not be read."""


class IBMQBackendValueError(IBMQBackendError, ValueError):
    """A value given to a backend call (status, tags, operator, share level) is invalid."""


class IBMQBackendJobLimitError(IBMQBackendError):
    """The backend's job limit was reached (server error code 3458)."""


class IBMQAccountError(IBMQError):
    """Base class for account errors."""


class IBMQAccountCredentialsInvalidUrl(IBMQAccountError):
    """The URL does not point at an IBM Quantum authentication service."""


class IBMQAccountCredentialsInvalidToken(IBMQAccountError):
    """The server refused the token."""


class IBMQProviderError(IBMQAccountError):
    """No provider, or more than one, matched hub/group/project."""


class IBMQAccountCredentialsNotFound(IBMQAccountError):
    """No stored credentials (upstream's account file; not raised by jobarchive)."""


class IBMQAccountCredentialsInvalidFormat(IBMQAccountError):
    """Stored credentials that cannot be read (not raised by jobarchive)."""


class IBMQAccountMultipleCredentialsFound(IBMQAccountError):
    """More than one stored credential (not raised by jobarchive)."""


class IBMQAccountValueError(IBMQError):
    """A bad value for an account operation (not raised by jobarchive)."""


class IBMQInputValueError(IBMQError):
    """A bad input value (upstream's; not raised by jobarchive)."""


class IBMQNotAuthorizedError(IBMQError):
    """The account may not do this (upstream's; not raised by jobarchive)."""


# --- archive -----------------------------------------------------------------------


class ArchiveError(IBMQError):
    """Base class for errors of the local archive."""


class JobNotFoundError(ArchiveError, KeyError):
    """The archive holds no job with that id."""

    def __init__(self, job_id: str):
        super().__init__(
            f"Job {job_id!r} is not in the archive. Add it with Archive.add(job) or "
            "fetch it with Archive.sync(provider)."
        )
        self.job_id = job_id

    __str__ = IBMQError.__str__


class JobValidationError(ArchiveError, ValueError):
    """A job record breaks the to_dict() format; ``job_id`` and ``field`` say where."""

    def __init__(self, message: str, job_id: str | None = None, field: str | None = None):
        where = f"job {job_id!r}" if job_id is not None else "job (no id)"
        if field:
            where += f", field {field!r}"
        super().__init__(f"Invalid {where}: {message}")
        self.job_id = job_id
        self.field = field


class QueryValueError(ArchiveError, ValueError):
    """A query filter has a value it cannot take."""


class ArchiveLockedError(ArchiveError):
    """Another process holds the archive's write lock (a sync or retag is running)."""


class ArchiveWriteError(ArchiveError, OSError):
    """Writing to the archive failed (disk full, I/O error, permissions); the failing batch
    was rolled back and adding it again is safe."""


class SchemaVersionError(ArchiveError):
    """The index was written by a newer jobarchive; upgrade jobarchive to open it."""


class IndexIntegrityError(ArchiveError):
    """The index file is damaged (SQLite found corrupt pages); the message says what to do."""


class BlobIntegrityError(ArchiveError):
    """A result blob is missing, truncated or does not match its recorded SHA-256."""
