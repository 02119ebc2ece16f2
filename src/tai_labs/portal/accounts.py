"""Instructor accounts of the portal, in the state store (owner-only SQLite), scrypt-hashed.

The hash has the format and parameters of candidates' passwords (``exam.credentials``:
``scrypt$N$r$p$salt$key``) but the password is taken as typed: an instructor chooses theirs,
so capitals count, where a candidate's slip password forgives them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

from tai_labs.errors import UsageError
from tai_labs.exam import credentials
from tai_labs.lab.store import Store

NAME = re.compile(r"[a-z][a-z0-9._-]{1,31}")
MIN_PASSWORD = 10
_TABLE = """
CREATE TABLE IF NOT EXISTS portal_users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created REAL NOT NULL
)
"""
_HASH = re.compile(r"scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=max(64 << 20, 256 * n * r), dklen=length
    )


def hash_password(password: str) -> str:
    n, r, p = credentials.SCRYPT_N, credentials.SCRYPT_R, credentials.SCRYPT_P
    salt = secrets.token_bytes(credentials.SALT_BYTES)
    key = _scrypt(password, salt, n, r, p, credentials.KEY_BYTES)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_password(stored: str | None, password: str) -> bool:
    """Constant-time check; no hash (unknown name) costs the same scrypt work as a wrong one."""
    match = _HASH.fullmatch(stored or "")
    if match is None:
        verify_password(_dummy(), password)
        return False
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if n > 2**20 or r > 32 or p > 16:  # a tampered hash must not allocate gigabytes
        return False
    expected = _unb64(match.group(5))
    key = _scrypt(password, _unb64(match.group(4)), n, r, p, len(expected))
    return hmac.compare_digest(key, expected)


_DUMMY: list[str] = []


def _dummy() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(12)))
    return _DUMMY[0]


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UsageError(
            f"invalid account name {name!r}",
            hint="2 to 32 of a-z, 0-9, '.', '_' and '-', starting with a letter: e.g. jdupuis",
        )
    return name


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsageError(
            f"the password is shorter than {MIN_PASSWORD} characters",
            hint="choose a longer one (a passphrase of a few words is easiest)",
        )
    return password


class Accounts:
    """The portal's accounts table (instructors; candidates log in with their session's)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.writing() as db:
            db.execute(_TABLE)

    def add(
        self, name: str, password: str, *, role: str = "instructor", replace: bool = False
    ) -> None:
        check_name(name)
        check_new_password(password)
        hashed = hash_password(password)
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self.store.writing() as db:
            added = db.execute(
                f"{verb} INTO portal_users VALUES (?, ?, ?, ?)", (name, role, hashed, time.time())
            ).rowcount
        if not added:
            raise UsageError(
                f"an account named {name!r} exists already",
                hint=f"`tai-labs serve user add {name} --instructor --replace` sets a new password",
            )

    def names(self) -> list[str]:
        with self.store.reading() as db:
            rows = db.execute("SELECT name FROM portal_users ORDER BY name").fetchall()
        return [r["name"] for r in rows]

    def check(self, name: str, password: str) -> str | None:
        """The account's role when ``password`` is its password, else None."""
        with self.store.reading() as db:
            row = db.execute(
                "SELECT role, password_hash FROM portal_users WHERE name = ?", (name,)
            ).fetchone()
        ok = verify_password(row["password_hash"] if row else None, password)
        return str(row["role"]) if ok and row else None
