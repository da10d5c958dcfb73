"""PINs and passphrases: read at the moment of use from a file or an environment variable.

The database never holds a secret, only a *reference* to where it lives (``env:NAME`` or
``file:/path``), so a copy of the database or a log line quoting a key reference gives nothing
away. :class:`Secret` hides its value from ``repr``/``str`` so that it cannot leak through an
exception message, a log record or a debugger dump by accident.
"""

from __future__ import annotations

import os
from pathlib import Path

from esign.errors import ErrorCode, EsignError

__all__ = ["Secret", "read_secret", "validate_secret_ref"]

_MAX_SECRET_FILE = 4096  # a PIN file is a few bytes; anything bigger is a misconfiguration


class Secret:
    """A secret value that refuses to be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def reveal_str(self) -> str:
        return self._value.decode("utf-8")

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


def validate_secret_ref(ref: str) -> str:
    """Refuse a reference that is not ``env:NAME`` or ``file:PATH`` before it is stored."""
    kind, _, target = ref.partition(":")
    if kind not in ("env", "file") or not target:
        raise EsignError(
            ErrorCode.BAD_OPTION, detail="a secret reference is env:VARIABLE or file:/path/to/file"
        )
    return ref


def read_secret(ref: str) -> Secret:
    """Resolve ``env:NAME`` or ``file:PATH``; a trailing newline in a file is not part of the secret."""
    kind, _, target = validate_secret_ref(ref).partition(":")
    if kind == "env":
        value = os.environ.get(target)
        if value is None:
            raise EsignError(ErrorCode.SECRET_UNAVAILABLE, source=f"environment variable {target} is not set")
        return Secret(value.encode("utf-8"))
    path = Path(target)
    try:
        if path.stat().st_size > _MAX_SECRET_FILE:
            raise EsignError(ErrorCode.SECRET_UNAVAILABLE, source=f"{path} is too large for a secret file")
        data = path.read_bytes()
    except OSError as exc:
        raise EsignError(ErrorCode.SECRET_UNAVAILABLE, source=f"{path}: {exc.strerror}") from None
    return Secret(data.rstrip(b"\r\n"))
