"""Candidates' passwords: generated readable, kept only as scrypt hashes, checked in constant time.

A password is printed once on a paper slip and typed by a candidate on a keyboard they may not
know: it is 12 characters in three groups of four (``k7mp-3wqa-9hte``), from lowercase letters
and digits less those printed alike (``0``/``o``, ``1``/``l``/``i``). 31 symbols, 12 draws:
about 59 bits from ``secrets``, out of reach of an online guesser slowed by scrypt. Capitals
and spaces around it are forgiven when it is checked.

The hash is ``scrypt$N$r$p$salt$key`` (salt and key in unpadded base64): N=2**14, r=8, p=1,
a 16-byte salt per candidate (``secrets.token_bytes``) and a 32-byte key, about 16 MiB and
50 ms per check on this kind of machine: the parameters OWASP gives as a floor for scrypt.
They are stored with each hash, so raising them later leaves older hashes checkable.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets

#: Lowercase letters and digits less those printed alike: 0/o, 1/l/i.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
GROUPS = 3
GROUP_LEN = 4
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
_MAXMEM = 64 * 1024 * 1024
_HASH = re.compile(r"scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)")


def new_password() -> str:
    """A fresh random password, e.g. ``k7mp-3wqa-9hte``."""
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LEN)) for _ in range(GROUPS))
    return "-".join(groups)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _normalised(password: str) -> bytes:
    # What a candidate types from a slip: stray spaces around it, or capitals, are not errors.
    return password.strip().lower().encode()


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The storable form of ``password``: ``scrypt$N$r$p$salt$key``."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(
        _normalised(password),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=_MAXMEM,
        dklen=KEY_BYTES,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches the ``stored`` hash; constant-time compare.

    ``stored`` None (no password made yet) or malformed never matches, after the same work.
    """
    match = _HASH.fullmatch(stored or "")
    if match is None:
        verify_password(_dummy_hash(), password)  # same cost as a real check
        return False
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if n > 2**20 or r > 32 or p > 16:  # a tampered hash must not make us allocate gigabytes
        return False
    expected = _unb64(match.group(5))
    key = hashlib.scrypt(
        _normalised(password),
        salt=_unb64(match.group(4)),
        n=n,
        r=r,
        p=p,
        maxmem=max(_MAXMEM, 256 * n * r),
        dklen=len(expected),
    )
    return hmac.compare_digest(key, expected)


@functools.cache
def _dummy_hash() -> str:
    """Checked against when there is no hash, so that "no such login" takes as long as a
    wrong password (a prober learns nothing from the time)."""
    return hash_password(new_password())
