"""The domain error tree, shared by HTTP (problem+json) and the CLI (one line, exit 1)."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A failure a user can understand and act on.

    Attributes:
        status: the HTTP status the API answers with.
        code: a stable machine-readable identifier (snake_case).
        title: a short, fixed summary of the kind of problem.
        detail: what happened in this occurrence, for a person to read.
        extra: further members of the problem document (e.g. row errors).
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "domain_error"
    title: ClassVar[str] = "Request cannot be carried out"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_problem(self) -> dict[str, Any]:
        """Return the RFC 9457 problem document for this error."""
        problem: dict[str, Any] = {
            "type": f"https://disburse.invalid/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        problem.update(self.extra)
        return problem

    def one_line(self) -> str:
        """Return the message the CLI prints: ``title: detail``."""
        return f"{self.title}: {self.detail}"


class NotFound(DomainError):
    """The named object does not exist."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    """The request clashes with the current state (duplicate, concurrent change)."""

    status = 409
    code = "conflict"
    title = "Conflict"


class ConcurrentChange(Conflict):
    """Another transaction changed the same data at the same moment; retrying is safe.

    The backstop for races the ordering of locks does not already turn into a business answer
    (a database lock wait that ran out, a serialization failure, a unique key inserted by a
    concurrent transaction first): nothing was changed, and the retry meets the saved state.
    """

    code = "concurrent_change"
    title = "Concurrent change"


class InvalidTransition(Conflict):
    """A state machine was asked for a move its table does not allow."""

    code = "invalid_transition"
    title = "Invalid state transition"


class ValidationFailed(DomainError):
    """Input was rejected; ``extra['errors']`` lists what was wrong, where."""

    status = 422
    code = "validation_failed"
    title = "Validation failed"


class Unauthorized(DomainError):
    """No valid credentials were presented."""

    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(DomainError):
    """The actor is known but may not do this (role, scope, maker-checker)."""

    status = 403
    code = "forbidden"
    title = "Not allowed"


class Upstream(DomainError):
    """A service we depend on (registry, bank) failed or could not be reached."""

    status = 502
    code = "upstream_error"
    title = "Upstream service failed"


class ConfigurationError(DomainError):
    """The service is not set up to do this yet (missing keys, bad settings)."""

    status = 500
    code = "configuration_error"
    title = "Configuration problem"
