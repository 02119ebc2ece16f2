"""Quoting for POSIX sh and PowerShell: every value is one literal word, whatever it holds."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tai_labs.sessions.quoting import posix_join, ps_command, ps_prelude, ps_quote, ps_variable

AWKWARD = [
    "plain",
    "two words",
    "it's",
    'say "hi"',
    "$HOME",
    "$(id -u)",
    "`uname`",
    "a; rm -rf /",
    "x && y || z",
    "line1\nline2",
    "*.txt",
    "",
    "-n",
    "tab\there",
    "back\\slash",
    "Éléonore l’ouvrière",
]


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs /bin/sh")
def test_posix_join_reaches_program_literally() -> None:
    # printf prints each argument between markers: what arrives is exactly what was sent.
    line = posix_join(["printf", "[%s]\\0", *AWKWARD])
    out = subprocess.run(["sh", "-c", line], capture_output=True, check=True).stdout
    assert out.decode().split("\0")[:-1] == [f"[{a}]" for a in AWKWARD]


def test_posix_join_refuses_nul_and_empty() -> None:
    with pytest.raises(ValueError):
        posix_join(["echo", "a\0b"])
    with pytest.raises(ValueError):
        posix_join([])
    with pytest.raises(TypeError):
        posix_join(["echo", 3])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", "'plain'"),
        ("two words", "'two words'"),
        ("it's", "'it''s'"),
        ("''", "''''''"),
        ("$env:PATH", "'$env:PATH'"),
        ("$(Get-Date)", "'$(Get-Date)'"),
        ("`n", "'`n'"),
        ('say "hi"', "'say \"hi\"'"),
        ("a; Remove-Item C:\\", "'a; Remove-Item C:\\'"),
        ("l1\nl2", "'l1\nl2'"),
        ("", "''"),
        # PowerShell treats typographic single quotes as quotes too: doubled as well.
        ("l\u2019ouvri\u00e8re", "'l\u2019\u2019ouvri\u00e8re'"),
        ("\u2018x\u201b", "'\u2018\u2018x\u201b\u201b'"),
    ],
)
def test_ps_quote(value: str, quoted: str) -> None:
    assert ps_quote(value) == quoted


def _ps_unquote(literal: str) -> str:
    """What PowerShell's parser makes of a '...' literal (the rule ps_quote relies on)."""
    quotes = "'\u2018\u2019\u201a\u201b"
    assert literal[0] in quotes and literal[-1] in quotes
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        if body[i] in quotes:
            # Inside the literal a quote char is only valid doubled; a lone one would end it.
            assert i + 1 < len(body) and body[i + 1] in quotes, f"unescaped quote in {literal!r}"
            out.append(body[i])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


@pytest.mark.parametrize("value", [*AWKWARD, "'\u2019'", "a''b", "\u201a"])
def test_ps_quote_round_trips(value: str) -> None:
    assert _ps_unquote(ps_quote(value)) == value


def test_ps_variable_names() -> None:
    assert ps_variable("login") == "$login"
    assert ps_variable("_x9") == "$_x9"
    for bad in ("", "9a", "a-b", "a b", "a;b", "$a", "a}"):
        with pytest.raises(ValueError):
            ps_variable(bad)


def test_ps_prelude_binds_quoted_values() -> None:
    prelude = ps_prelude({"login": "o'brien", "ou": "$(evil)\nRemove-Item x"})
    assert prelude == "$login = 'o''brien'\n$ou = '$(evil)\nRemove-Item x'\n"
    assert ps_prelude(None) == ""


def test_ps_command_quotes_every_word_and_propagates_rc() -> None:
    script = ps_command(["net", "user", "o'brien", "$x"])
    first = script.splitlines()[0]
    assert first == "& 'net' 'user' 'o''brien' '$x'"
    assert "exit $LASTEXITCODE" in script and "exit 1" in script
    with pytest.raises(ValueError):
        ps_command([])
