"""The engine's error type, with the kinds Prometheus' HTTP API reports as ``errorType``."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["bad_data", "execution", "timeout", "canceled", "internal"]


class PromQLError(Exception):
    """A query failed. ``kind`` maps to the API's ``errorType``: ``bad_data`` (parse and
    type errors, HTTP 400), ``execution`` (evaluation errors incl. the sample limit, 422),
    ``timeout``/``canceled`` (503), ``internal`` (storage failures, 500)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message
