"""Who is logged in: server-side login records, named by a random id the cookie carries.

The cookie holds the id signed (``itsdangerous``) and nothing else; the record says who it is
(a candidate of a session, or an instructor), its CSRF token and when it expires. Only the
id's SHA-256 is stored, so a copy of the store gives no working cookie; logging out deletes
the record, so a copied cookie dies with it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from tai_labs.lab.store import Store

Kind = Literal["candidate", "instructor"]
_TABLE = """
CREATE TABLE IF NOT EXISTS portal_logins (
    sid_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    session TEXT,
    csrf TEXT NOT NULL,
    expires REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Login:
    kind: Kind
    #: The candidate's login, or the instructor's account name.
    name: str
    #: The exam session a candidate logged in to (None for an instructor).
    session: str | None
    csrf: str
    expires: float


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class Logins:
    def __init__(self, store: Store) -> None:
        self.store = store
        with store.writing() as db:
            db.execute(_TABLE)

    def open(self, kind: Kind, name: str, session: str | None, expires: float) -> str:
        """A new login; returns its id (for the cookie, never stored as is)."""
        sid = secrets.token_urlsafe(32)
        with self.store.writing() as db:
            db.execute(
                "INSERT INTO portal_logins VALUES (?, ?, ?, ?, ?, ?)",
                (_digest(sid), kind, name, session, secrets.token_urlsafe(32), expires),
            )
        return sid

    def find(self, sid: str, now: float) -> Login | None:
        with self.store.reading() as db:
            row = db.execute(
                "SELECT * FROM portal_logins WHERE sid_hash = ?", (_digest(sid),)
            ).fetchone()
        if row is None:
            return None
        if row["expires"] <= now:
            self.close(sid)
            return None
        return Login(row["kind"], row["name"], row["session"], row["csrf"], row["expires"])

    def close(self, sid: str) -> None:
        with self.store.writing() as db:
            db.execute("DELETE FROM portal_logins WHERE sid_hash = ?", (_digest(sid),))

    def purge(self, now: float) -> None:
        with self.store.writing() as db:
            db.execute("DELETE FROM portal_logins WHERE expires <= ?", (now,))
