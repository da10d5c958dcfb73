"""The audit anchor: every signed checkpoint, appended to a file outside the database.

Checkpoints live in the database they protect, so someone who can write the database can delete
the newest ones (or restore an old copy) and leave a shorter chain that is still consistent. The
anchor is a second, append-only copy of each checkpoint's digest: ``esign audit verify`` requires
every anchored checkpoint to be in the database, unchanged. It protects as far as the file is out
of the database writer's reach (``chattr +a``, another user or host); each line also goes to the
``esign.audit`` log, so a log pipeline is an external copy (see docs/audit.md).

``ESIGN_AUDIT_ANCHOR`` names the file; by default an SQLite database ``X.db`` is anchored in
``X.db.audit-anchor`` beside it, a PostgreSQL database not at all; ``off`` switches it off.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["Anchor", "AnchorLine", "AnchorUnreadable", "anchor_for"]

_log = logging.getLogger("esign.audit")
_OFF = ("off", "none", "0", "false")


@dataclass(frozen=True)
class AnchorLine:
    """One anchored checkpoint: its sequence number and its digest (which covers the chain before it)."""

    seq: int
    digest: str


@dataclass(frozen=True)
class Anchor:
    path: Path

    def append(self, seq: int, head_hash: str, digest: str, at: str) -> None:
        """Append one line and make it durable before the checkpoint counts as anchored."""
        line = json.dumps({"seq": seq, "head_hash": head_hash, "digest": digest, "at": at}, sort_keys=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        _log.info("audit checkpoint anchored", extra={"audit_anchor": line})

    def read(self) -> list[AnchorLine] | None:
        """The anchored checkpoints in file order; ``None`` when there is no file; a bad line raises."""
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        lines = []
        for number, raw in enumerate(text.splitlines(), 1):
            try:
                fields = json.loads(raw)
                lines.append(AnchorLine(seq=int(fields["seq"]), digest=str(fields["digest"])))
            except (ValueError, KeyError, TypeError):
                raise AnchorUnreadable(number) from None
        return lines


class AnchorUnreadable(Exception):
    """A line of the anchor file is not what :meth:`Anchor.append` writes: the file was edited."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def anchor_for(database_url: str, setting: str | None = None) -> Anchor | None:
    """The anchor of ``database_url``: ``setting``, else ``ESIGN_AUDIT_ANCHOR``, else the default."""
    value = (setting if setting is not None else os.environ.get("ESIGN_AUDIT_ANCHOR", "")).strip()
    if value.lower() in _OFF:
        return None
    if value:
        return Anchor(Path(value))
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Anchor(Path(f"{url.database}.audit-anchor"))
