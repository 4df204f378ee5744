"""The domain error tree, shared by HTTP (problem+json) and the CLI (one line, exit 1)."""

from __future__ import annotations

from typing import Any, ClassVar

from disburse.core.lang import pick


class DomainError(Exception):
    """A failure a user can understand and act on.

    Attributes:
        status: the HTTP status the API answers with.
        code: a stable machine-readable identifier (snake_case).
        title: a short, fixed summary of the kind of problem (English: the API's title).
        title_vi: the same summary in Vietnamese, for the command line.
        detail: what happened in this occurrence, for a person to read.
        extra: further members of the problem document (e.g. row errors).
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "domain_error"
    title: ClassVar[str] = "Request cannot be carried out"
    title_vi: ClassVar[str] = "Không thực hiện được yêu cầu"

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
        """Return the message the CLI prints: ``title: detail``, the title in ``DISBURSE_LANG``.

        The detail is the occurrence's own text (as the service wrote it).
        """
        return f"{pick(self._title_vi(), self.title)}: {self.detail}"

    @classmethod
    def _title_vi(cls) -> str:
        """The Vietnamese title; a subclass that set only an English title keeps its own."""
        for klass in cls.__mro__:
            if "title_vi" in vars(klass):
                return str(vars(klass)["title_vi"])
            if "title" in vars(klass):
                return str(vars(klass)["title"])
        return cls.title


class NotFound(DomainError):
    """The named object does not exist."""

    status = 404
    code = "not_found"
    title = "Not found"
    title_vi = "Không tìm thấy"


class Conflict(DomainError):
    """The request clashes with the current state (duplicate, concurrent change)."""

    status = 409
    code = "conflict"
    title = "Conflict"
    title_vi = "Xung đột dữ liệu"


class ConcurrentChange(Conflict):
    """Another transaction changed the same data at the same moment; retrying is safe.

    The backstop for races the ordering of locks does not already turn into a business answer
    (a database lock wait that ran out, a serialization failure, a unique key inserted by a
    concurrent transaction first): nothing was changed, and the retry meets the saved state.
    """

    code = "concurrent_change"
    title = "Concurrent change"
    title_vi = "Dữ liệu vừa bị thay đổi đồng thời (thử lại)"


class InvalidTransition(Conflict):
    """A state machine was asked for a move its table does not allow."""

    code = "invalid_transition"
    title = "Invalid state transition"
    title_vi = "Chuyển trạng thái không hợp lệ"


class ValidationFailed(DomainError):
    """Input was rejected; ``extra['errors']`` lists what was wrong, where."""

    status = 422
    code = "validation_failed"
    title = "Validation failed"
    title_vi = "Dữ liệu không hợp lệ"


class Unauthorized(DomainError):
    """No valid credentials were presented."""

    status = 401
    code = "unauthorized"
    title = "Authentication required"
    title_vi = "Cần đăng nhập"


class Forbidden(DomainError):
    """The actor is known but may not do this (role, scope, maker-checker)."""

    status = 403
    code = "forbidden"
    title = "Not allowed"
    title_vi = "Không được phép"


class Upstream(DomainError):
    """A service we depend on (registry, bank) failed or could not be reached."""

    status = 502
    code = "upstream_error"
    title = "Upstream service failed"
    title_vi = "Dịch vụ bên ngoài bị lỗi"


class ConfigurationError(DomainError):
    """The service is not set up to do this yet (missing keys, bad settings)."""

    status = 500
    code = "configuration_error"
    title = "Configuration problem"
    title_vi = "Lỗi cấu hình"
