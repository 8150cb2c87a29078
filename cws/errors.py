"""Errors the client reports, and the exit codes they map to.

Exit codes are a contract with scripts and CI jobs:

* ``0`` — done;
* ``1`` — the registry (or AWS) said no, or the work it did failed;
* ``2`` — the command was used wrongly, or something on this machine stopped it (no server at
  the URL, unreadable config file, no AWS credentials). Click's usage errors are ``2`` as well.
"""
from __future__ import annotations

OK = 0
REFUSED = 1
LOCAL = 2
INTERRUPTED = 130  # Ctrl-C while watching: the conventional 128 + SIGINT


class CwsError(Exception):
    """An error with a message meant for a person, lines of detail, and an exit code."""

    exit_code = LOCAL

    def __init__(self, message: str, *, details: list[str] | None = None, hint: str = "",
                 exit_code: int | None = None, payload: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = list(details or [])
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code
        # What ``--json`` prints under "error" (the server's envelope when there is one).
        self.payload = payload or {}

    def as_json(self) -> dict:
        # The server's envelope (code, status_code, errors, tried …) under our own message.
        body = {**self.payload, "message": self.message, "exit_code": self.exit_code}
        if self.details:
            body.setdefault("details", self.details)
        if self.hint:
            body["hint"] = self.hint
        return body


class LocalError(CwsError):
    """Usage or environment problem on this machine (exit 2)."""

    exit_code = LOCAL


class Refused(CwsError):
    """The registry or AWS refused, or the operation failed (exit 1)."""

    exit_code = REFUSED


class Interrupted(CwsError):
    """Ctrl-C: the client stopped; server-side work goes on."""

    exit_code = INTERRUPTED
