"""Candidates' passwords: readable, hashed with scrypt and a salt each, checked in constant time."""

from __future__ import annotations

import base64
import re

from tai_labs.exam import credentials
from tai_labs.exam.credentials import ALPHABET, hash_password, new_password, verify_password


def test_passwords_are_readable_and_differ() -> None:
    made = {new_password() for _ in range(200)}
    assert len(made) == 200
    for password in made:
        assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", password)
        assert not set(password) & set("01oli")
    assert not set(ALPHABET) & set("01oliI")


def test_hash_has_its_parameters_and_a_salt_each() -> None:
    one, two = hash_password("abcd-efgh-jkmn"), hash_password("abcd-efgh-jkmn")
    assert one != two  # a salt each: the same password does not give the same hash
    algo, n, r, p, salt, key = one.split("$")
    assert (algo, int(n), int(r), int(p)) == ("scrypt", 2**14, 8, 1)
    assert len(base64.b64decode(salt + "==")) == 16 and len(base64.b64decode(key + "=")) == 32
    assert "abcd" not in one


def test_verify_accepts_the_password_typed_loosely_and_refuses_others() -> None:
    stored = hash_password("k7mp-3wqa-9hte")
    assert verify_password(stored, "k7mp-3wqa-9hte")
    assert verify_password(stored, "  K7MP-3WQA-9HTE ")
    assert not verify_password(stored, "k7mp-3wqa-9htf")
    assert not verify_password(stored, "")


def test_no_hash_or_a_tampered_one_never_matches() -> None:
    assert not verify_password(None, "anything")
    assert not verify_password("plaintext", "plaintext")
    stored = hash_password("k7mp-3wqa-9hte")
    huge = stored.replace("$16384$", "$1073741824$")  # must not allocate 1 TiB
    assert not verify_password(huge, "k7mp-3wqa-9hte")


def test_verify_compares_in_constant_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    compared: list[tuple[bytes, bytes]] = []
    real = credentials.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(credentials.hmac, "compare_digest", spy)
    assert verify_password(hash_password("abcd-efgh-jkmn"), "abcd-efgh-jkmn")
    assert len(compared) == 1


def test_no_hash_costs_the_same_scrypt_work(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    credentials._dummy_hash()  # made once, before counting
    calls: list[int] = []
    real = credentials.hashlib.scrypt

    def spy(password: bytes, **kw: int) -> bytes:
        calls.append(kw["n"])
        return real(password, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(credentials.hashlib, "scrypt", spy)
    assert not verify_password(None, "abcd-efgh-jkmn")
    assert not verify_password(hash_password("x"), "abcd-efgh-jkmn")
    # one scrypt for the missing hash, then one to make a hash and one to check it
    assert calls == [2**14, 2**14, 2**14]
