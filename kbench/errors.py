"""The one family of user-facing errors.

Anything a user can fix (a bad suite file, a bad argument, an unreadable result file) raises a
`KbenchError`. The CLI catches it once, prints one line and exits with status 2; no traceback.
"""

from __future__ import annotations


class KbenchError(Exception):
    """An error the user can fix; its message says what, where and what was expected."""


class SuiteError(KbenchError):
    """A suite file that cannot be used: names the file, the field and what was expected."""

    def __init__(self, path: str, field: str, expected: str, got: object = None) -> None:
        self.path, self.field, self.expected, self.got = path, field, expected, got
        where = f"{path}: {field}" if field else path
        tail = "" if got is None else f", got {got!r}"
        super().__init__(f"{where}: expected {expected}{tail}")


class ResultError(KbenchError):
    """A result file that cannot be read or written."""
