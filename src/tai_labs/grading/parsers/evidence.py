"""Evidence helpers every check shares: run and record a command, find its output again, turn
an unusable output into ``error``; and the text helpers the parsers use."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from tai_labs.grading.model import Evidence, Judgement
from tai_labs.sessions.base import CommandResult, CommandSession

#: Prefix that forces untranslated, stable output from the tools that translate.
C_LOCALE = ["env", "LC_ALL=C", "LANG=C"]

# --------------------------------------------------------------------------------------------
# Evidence: commands are stored in order; ``facts["outputs"]`` names them so judges find them.


def run(
    ev: Evidence,
    session: CommandSession,
    key: str,
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    input: str | None = None,
) -> CommandResult:
    """Run argv, record it in the evidence under ``key`` and return its result."""
    result = ev.add(session.run(argv, timeout=timeout, input=input))
    ev.facts.setdefault("outputs", {})[key] = len(ev.commands) - 1
    return result


def output(ev: Evidence, key: str) -> CommandResult | None:
    index = ev.facts.get("outputs", {}).get(key)
    if index is None or not 0 <= index < len(ev.commands):
        return None
    return ev.commands[index]


def tool_missing(result: CommandResult) -> bool:
    """The command could not run at all (not installed, not executable)."""
    text = result.stderr.lower()
    return result.rc in (126, 127) or "command not found" in text or "introuvable" in text


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def quote(result: CommandResult) -> str:
    """The part of a command's output worth quoting: stderr if it failed, else stdout."""
    return first_line(result.stderr) or first_line(result.stdout) or f"rc={result.rc}"


def not_run(result: CommandResult | None, what: str) -> Judgement:
    """``error``: the command meant to observe the state did not give usable output."""
    if result is None:
        return Judgement.error(
            f"la commande de contrôle ({what}) n'a pas été exécutée",
            f"the {what} command was not run",
        )
    if tool_missing(result):
        return Judgement.error(
            f"outil absent sur le nœud ({what}) : impossible de juger",
            f"{what}: tool missing on the node, cannot judge",
            quote(result),
        )
    return Judgement.error(
        f"sortie inattendue de {what} (code {result.rc}) : impossible de juger",
        f"unexpected output from {what} (rc={result.rc}), cannot judge",
        quote(result),
    )


def fold(text: str) -> str:
    """Case- and accent-insensitive form, for matching French words written by candidates."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def findall_between(
    text: str, opener: str | re.Pattern[str], closer: re.Pattern[str], *, dotall: bool = False
) -> list[str]:
    """``re.findall(opener + "(.*?)" + closer, text)`` in linear time (``re.S`` if dotall).

    The expression tries every opener against every later closer: quadratic on a line of
    openers, which a candidate can write. Here each opener looks for its first closer once,
    and a failed search ends the line (or the text): a later opener cannot find one either.
    ``closer`` must match at most ``_CLOSER_SPAN`` characters.
    """
    found: list[str] = []
    pos = 0
    while True:
        if isinstance(opener, str):
            start = text.find(opener, pos)
            if start < 0:
                return found
            content = start + len(opener)
        else:
            m = opener.search(text, pos)
            if m is None:
                return found
            content = m.end()
        if dotall:
            end = closer.search(text, content)
            if end is None:
                return found
        else:
            newline = text.find("\n", content)
            line_end = len(text) if newline < 0 else newline
            end = closer.search(text, content, line_end + _CLOSER_SPAN)
            if end is None or end.start() > line_end:
                if newline < 0:
                    return found
                pos = newline + 1
                continue
        found.append(text[content : end.start()])
        pos = max(end.end(), content + 1)


#: The longest closer ``findall_between`` accepts: it may run past the line's end by that much.
_CLOSER_SPAN = 8
