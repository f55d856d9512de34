"""Domain errors, raised by logic and adapters and mapped to HTTP once (pushengine.http)."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class InvalidInput(DomainError):
    status = 400


class Unauthorized(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class BodyTooLarge(DomainError):
    status = 413


class UnsupportedMediaType(DomainError):
    status = 415


class Unprocessable(DomainError):
    status = 422


class TooManyRequests(DomainError):
    """Over a rate: `retry_after` seconds until the caller may try again (the Retry-After header)."""

    status = 429

    def __init__(self, reason: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(reason, field=field)
        self.retry_after = max(1, int(retry_after))
