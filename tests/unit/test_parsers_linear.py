"""Parsers of node output run in linear time (a candidate writes what they read) and give the
same results as the expressions they replaced."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tai_labs.grading import parsers as p
from tai_labs.grading.parsers import records

#: Wide margin: each parse below takes milliseconds; the old expressions took hours on 16 KB.
BOUND = 0.5


def _seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# --- the expressions replaced, kept here as the reference -------------------------------------

OLD_HEADING = re.compile(r"^#{1,6}\s*(.+?)\s*:?\s*$")
OLD_INLINE = re.compile(r"^[-*>\s]*\**([^:*]{1,60}?)\**\s*:\s*\**\s*(.*)$")

# Short lines over the characters the expressions care about: every backtracking path is hit.
line_text = st.text(alphabet="#-*>: \taé\u00a0", max_size=14).map(str.strip)
long_name = st.builds(
    lambda a, n, b: (a + "x" * n + b).strip(),
    st.text(alphabet="-*> :", max_size=6),
    st.integers(55, 65),
    st.text(alphabet="* :a", max_size=6),
)


@settings(max_examples=800, deadline=None)
@given(st.one_of(line_text, long_name))
def test_heading_same_as_the_expression(line: str) -> None:
    m = OLD_HEADING.match(line)
    assert records._heading(line) == (m.group(1) if m else None)


@settings(max_examples=800, deadline=None)
@given(st.one_of(line_text, long_name))
def test_inline_field_same_as_the_expression(line: str) -> None:
    m = OLD_INLINE.match(line)
    assert records._inline_field(line) == (m.groups() if m else None)


def test_report_fields_unchanged_on_a_real_report() -> None:
    text = (
        "# Compte rendu d'intervention\n"
        "## Diagnostic :\n"
        "Le compte était verrouillé\n"
        "- **Solution** : déverrouillage\n"
        "> Vérification: connexion OK\n"
        "Voir : https://intranet/x\n"
        "https://intranet/doc\n"
        "* Date : 12/03\n"
    )
    assert p.report_fields(text) == {
        "compte rendu d'intervention": ("", "# Compte rendu d'intervention"),
        "diagnostic": (
            "Le compte était verrouillé",
            "## Diagnostic : / Le compte était verrouillé",
        ),
        "solution": ("déverrouillage", "- **Solution** : déverrouillage"),
        "verification": ("connexion OK", "> Vérification: connexion OK"),
        "voir": ("https://intranet/x", "Voir : https://intranet/x"),
        "date": ("12/03", "* Date : 12/03"),
    }


# --- crafted lines: time bounded -------------------------------------------------------------

CRAFTED = {
    "heading of spaces": lambda n: "# a" + " " * n + "!",
    "heading of spaces and colons": lambda n: "## a" + " :" * (n // 2) + "!",
    "list marks then spaces": lambda n: "* " + " \t" * (n // 2) + "!",
    "marks and spaces before a colon": lambda n: "-" + " *" * (n // 2) + "a:",
    "long name": lambda n: "- " + "a " * (n // 2) + ": x",
    "stars before a colon": lambda n: "a" + "*" * n + " :x",
}


@pytest.mark.parametrize("size", [2_000, 16_000])
@pytest.mark.parametrize("shape", sorted(CRAFTED))
def test_report_fields_is_fast_on_a_crafted_line(shape: str, size: int) -> None:
    line = CRAFTED[shape](size)
    assert _seconds(lambda: p.report_fields(line)) < BOUND
    assert _seconds(lambda: p.report_fields((line + "\n") * 8)) < BOUND


# --- the other expressions over node output, replaced the same way -----------------------------

OLD_FINDALL = {
    "argv": re.compile(r"argv\[\]=(.*?)\s;\s"),
    "lease": re.compile(r"lease\s*\{(.*?)\}", re.S),
    "oncalendar": re.compile(r"OnCalendar=(.*?) ;"),
}
OLD_CRON_FILES = re.compile(r"^==> (.+?) <==\n(.*?)\n<== EOF$", re.S | re.M)
OLD_DIG = re.compile(r"->>HEADER<<-.*status: ([A-Z]+)")
OLD_CLI_ERROR = re.compile(r"^\s*% ", re.MULTILINE)
OLD_GPLINK = re.compile(r"\[([^;\]]+);(\d+)\]")


def _new_findall(name: str, text: str) -> list[str]:
    if name == "argv":
        return p.findall_between(text, "argv[]=", re.compile(r"\s;\s"))
    if name == "lease":
        return p.findall_between(text, re.compile(r"lease\s*\{"), re.compile(r"\}"), dotall=True)
    return p.findall_between(text, "OnCalendar=", re.compile(" ;"))


def _same_as_before(text: str) -> None:
    from tai_labs.facts.directory.gplink import _gplink_pairs
    from tai_labs.grading.parsers.cron import _cron_file_blocks
    from tai_labs.grading.parsers.network import _dig_status
    from tai_labs.sessions.device import CLI_ERROR

    for name, old in OLD_FINDALL.items():
        assert _new_findall(name, text) == old.findall(text), name
    assert _cron_file_blocks(text) == [m.groups() for m in OLD_CRON_FILES.finditer(text)]
    m = OLD_DIG.search(text)
    assert _dig_status(text) == (m.group(1) if m else None)
    assert bool(CLI_ERROR.search(text)) == bool(OLD_CLI_ERROR.search(text))
    assert _gplink_pairs(text) == OLD_GPLINK.findall(text)


def test_same_results_as_before_on_the_captured_outputs() -> None:
    captured = Path(__file__).parent / "graders" / "captured"
    texts = [
        json.loads(f.read_text())[stream]
        for f in sorted(captured.glob("*.json"))
        for stream in ("stdout", "stderr")
    ]
    assert len(texts) > 50 and any("argv[]=" in t for t in texts)
    assert any("==> /etc/crontab <==" in t for t in texts) and any(
        "->>HEADER<<-" in t for t in texts
    )
    for text in texts:
        _same_as_before(text)


PIECES = [
    "argv[]=",
    " ; ",
    " ;\n",
    "\n",
    "x",
    "lease",
    " {",
    "}",
    "OnCalendar=",
    " ;",
    "==> ",
    " <==\n",
    "\n<== EOF",
    "->>HEADER<<-",
    "status: ",
    "NOERROR",
    "% ",
    "[",
    "]",
    ";0",
    "\t",
]


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.sampled_from(PIECES),
        max_size=14,
    ).map("".join)
)
def test_same_results_as_before_on_random_pieces(text: str) -> None:
    _same_as_before(text)


def test_df_and_assignments_same_as_before() -> None:
    df = p.parse_df("Avail Use% 1M-blocks Mounted on\n  1024   12%   8192 /srv/data dir  \n")
    assert df is not None and df.target == "/srv/data dir" and df.avail_mib == 1024
    from graders.linux_settings import _assignments

    assert _assignments(' export LANG = "fr_FR.UTF-8"  \nTZ=  \n') == {
        "LANG": "fr_FR.UTF-8",
        "TZ": "",
    }


BIG = {
    "execstart": lambda n: p.execstart_argvs("{ " + "argv[]=" * (n // 7) + " }"),
    "dhclient lease": lambda n: p.parse_dhclient_lease("lease {" * (n // 7)),
    "dig header": lambda n: p.parse_dig("->>HEADER<<-" * (n // 12)),
    "cron files": lambda n: p.parse_cron_files("==> a <==\n" * (n // 10)),
    "df target": lambda n: p.parse_df("h\n1 2 3 /" + " " * n + "x"),
    "df spaces": lambda n: p.parse_df("h\n" + " " * n + "1"),
    "oncalendar": lambda n: p.findall_between("OnCalendar=" * (n // 11), "OnCalendar=", _SEMI),
    "cli error": lambda n: _cli_rc("\n" * n + "x"),
    "clixml": lambda n: _clean_clixml("#< CLIXML" + '<S S="Error">' * (n // 13)),
    "gplink": lambda n: _parse_gplink("[" * n),
    "ping": lambda n: _ping("1" * n + " x"),
    "assignments": lambda n: _assignments("A=a" + " " * n + "x"),
}
_SEMI = re.compile(" ;")


def _cli_rc(text: str) -> int:
    from tai_labs.sessions.device import cli_rc

    return cli_rc(text)


def _clean_clixml(text: str) -> str:
    from tai_labs.sessions.winrm import clean_clixml

    return clean_clixml(text)


def _parse_gplink(text: str) -> object:
    from tai_labs.facts.directory.gplink import parse_gplink

    return parse_gplink(text)


def _ping(text: str) -> object:
    from graders.probe_network import PING_SUMMARY

    return PING_SUMMARY.search(text)


def _assignments(text: str) -> object:
    from graders.linux_settings import _assignments

    return _assignments(text)


@pytest.mark.parametrize("size", [2_000, 16_000])
@pytest.mark.parametrize("shape", sorted(BIG))
def test_parsers_are_fast_on_crafted_output(shape: str, size: int) -> None:
    assert _seconds(lambda: BIG[shape](size)) < BOUND
