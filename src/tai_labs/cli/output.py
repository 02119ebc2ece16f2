"""Console and JSON output shared by the commands.

Both consoles have rich markup turned off: a string printed, or put in a table cell, a title
or a rule, is shown as it is. A lab's candidate name, a scenario's title, a check's message
or a node's output is data that others chose (``[/b]Alice`` once crashed `tai-labs ls` for
the whole host), and data is never read as markup. Styled text is built on purpose with
``markup()`` (our template, the data escaped into it) or ``styled()``, which give ``Text``.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

console = Console(highlight=False, markup=False)
err_console = Console(stderr=True, highlight=False, markup=False)


def print_json(data: Any) -> None:
    """JSON on stdout, nothing else: safe to pipe into jq."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def markup(template: str, *values: object) -> Text:
    """Our rich markup ``template``, each ``{}`` filled with a value shown as it is.

    ``markup("[bold]lab {}[/bold] · « {} »", lab_id, candidate)``: the template's tags style
    the line; a ``[`` in a value is escaped, so it is printed, never read as a tag.
    """
    return Text.from_markup(template.format(*(escape(str(v)) for v in values)))


STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "red", "valid": "green", "invalid": "red"}


def styled(status: str, style: str | None = None) -> Text:
    """``status`` in the colour of its kind (or in ``style``), as it is."""
    return Text(status, style=style or STATUS_STYLE.get(status, ""))


class _WarningHandler(logging.Handler):
    """What the library logs (a warning, an error it recovered from), on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        label = "warning" if record.levelno < logging.ERROR else "error"
        err_console.print(markup("[yellow]{}:[/yellow] {}", label, record.getMessage()))


def show_library_warnings() -> None:
    """Show what ``tai_labs`` logs at WARNING and above (the library never prints)."""
    logger = logging.getLogger("tai_labs")
    if not any(isinstance(h, _WarningHandler) for h in logger.handlers):
        logger.addHandler(_WarningHandler(logging.WARNING))
