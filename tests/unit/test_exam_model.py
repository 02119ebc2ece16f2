"""Durations, starts and names as an instructor types them; the model refuses what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from tai_labs.errors import UsageError
from tai_labs.exam.model import (
    LOGIN,
    Candidate,
    format_duration,
    parse_duration,
    parse_start,
    session_name,
)

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("2h", 120), ("1h30", 90), ("1h 30m", 90), ("90m", 90), ("45min", 45), ("120", 120)],
)
def test_durations(text: str, minutes: int) -> None:
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["0", "0h", "0h00", "", "2 heures", "h", "-1h", "13h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_start_local_time_offset_and_past() -> None:
    local = parse_start("2027-01-12 09:00", now=NOW)
    assert local.tzinfo is not None and (local.hour, local.minute) == (9, 0)
    paris = parse_start("2027-01-12T09:00+01:00", now=NOW)
    assert paris == datetime(2027, 1, 12, 8, 0, tzinfo=UTC)
    assert paris.utcoffset() == timedelta(hours=1) and paris.tzinfo == timezone(timedelta(hours=1))
    with pytest.raises(UsageError, match="in the past"):
        parse_start("2027-01-10 11:59+00:00", now=NOW)
    with pytest.raises(UsageError, match="invalid start"):
        parse_start("12/01/2027 9h", now=NOW)


def test_session_names() -> None:
    assert session_name("ccp2-2027-01-12") == "ccp2-2027-01-12"
    for bad in ("../x", "CCP2", "a b", "", "x" * 41, "-x", "x\n"):
        with pytest.raises(UsageError):
            session_name(bad)


def test_a_stored_login_outside_the_alphabet_is_refused() -> None:
    # what the gateway will turn into host accounts must never be read back unchecked
    with pytest.raises(ValidationError):
        Candidate(
            login="root;rm", nom="N", prenom="P", roster_line=2, login_derived=False, draws=()
        )


def test_format_duration() -> None:
    assert [format_duration(m) for m in (45, 60, 90, None)] == [
        "45 min",
        "1 h",
        "1 h 30",
        "sans limite",
    ]


def test_every_login_is_a_valid_lab_candidate_name() -> None:
    # `session up` will run each lab with --candidate LOGIN: the draw depends on it
    from tai_labs import names

    for login in ("abc", "jean-pierre-le-goff", "chloe-martin2", "x" * 32, "li-xu"):
        assert LOGIN.fullmatch(login)
        assert names.candidate_name(login) == login
    for bad in ("jean-", "a.b", "chloe.martin", "ab", "9ab", "Abc", "a_b", "x" * 33):
        assert not LOGIN.fullmatch(bad)
