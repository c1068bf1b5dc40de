"""Errors of the store and the control API, worded like Docker's gRPC status errors.

The daemon prints ``str(err)`` after "Error response from daemon: " and answers with
``err.http_status``, so a swarmlet error reads exactly like Docker's.
"""

from __future__ import annotations


class StoreError(Exception):
    """A refused command or lookup; carries a gRPC-style code and Docker's HTTP status."""

    code = "Unknown"
    http_status = 500

    def __init__(self, desc: str):
        super().__init__(desc)
        self.desc = desc

    def __str__(self) -> str:
        return f"rpc error: code = {self.code} desc = {self.desc}"

    def to_dict(self) -> dict:
        return {"code": self.code, "desc": self.desc}

    @classmethod
    def from_dict(cls, data: dict) -> StoreError:
        """Rebuild an error that crossed the wire (a forwarded write's result)."""
        kind = _BY_CODE.get(data.get("code", ""), StoreError)
        return kind(str(data.get("desc", "")))


class InvalidArgument(StoreError):
    code = "InvalidArgument"
    http_status = 400


class NotFound(StoreError):
    code = "NotFound"
    http_status = 404


class AlreadyExists(StoreError):
    code = "AlreadyExists"
    http_status = 409


class OutOfSequence(StoreError):
    """Compare-and-set on Version.Index failed: someone changed the object first."""

    code = "Unknown"
    http_status = 500

    def __init__(self, desc: str = "update out of sequence"):
        super().__init__(desc)


class FailedPrecondition(StoreError):
    code = "FailedPrecondition"
    http_status = 400


class Unimplemented(StoreError):
    code = "Unimplemented"
    http_status = 501


class Ambiguous(InvalidArgument):
    """A name or ID prefix that matches several objects."""


NAME_CONFLICT = "name conflicts with an existing object"

_BY_CODE = {
    c.code: c
    for c in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        Unimplemented,
        StoreError,
    )
}
