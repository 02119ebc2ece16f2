"""The candidate's brief: French text, jinja2, rendered with the lab's variables.

Besides the variables, a brief sees ``scenario`` (metadata), ``nodes`` (by name) and
``directory``; the runtime adds ``access`` (how to reach the lab) when a lab exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import jinja2

from tai_labs.scenario import paths
from tai_labs.scenario.diagnostics import Diagnostic, Location, ScenarioError
from tai_labs.scenario.extends import catalogue_roots
from tai_labs.scenario.model import Scenario
from tai_labs.scenario.render import (
    TEMPLATE_HINT,
    describe_template_error,
    make_environment,
    render_template,
)
from tai_labs.scenario.source import SourceMap, read_text


class BriefSource(Protocol):
    """What a brief is rendered from: a ``loader.LoadedScenario``, which calls this module
    (described here, not imported, so the loader and the brief do not import each other)."""

    @property
    def scenario(self) -> Scenario: ...
    @property
    def variables(self) -> dict[str, Any]: ...
    @property
    def file(self) -> Path: ...
    @property
    def source(self) -> SourceMap: ...
    @property
    def folder(self) -> Path: ...


#: Placeholder access details used when rendering a brief without a lab.
PREVIEW_ACCESS = {"how": "(les accès seront donnés au démarrage du lab)", "nodes": {}}


def _context(loaded: BriefSource, extra: Mapping[str, Any]) -> dict[str, Any]:
    scenario = loaded.scenario
    return {
        **loaded.variables,
        "scenario": scenario.scenario,
        "nodes": {n.name: n for n in scenario.topology.nodes},
        "directory": scenario.directory,
        "access": PREVIEW_ACCESS,
        **extra,
    }


def _file(loaded: BriefSource) -> Path:
    """The brief's file, resolved and kept inside the catalogue (PathRefused otherwise)."""
    assert loaded.scenario.brief.file is not None
    roots = catalogue_roots(loaded.file)
    return paths.resolve_inside(loaded.folder, loaded.scenario.brief.file, roots)


def _source(loaded: BriefSource) -> tuple[str, Path, int]:
    """Template text, the file it is in, and the line its first line sits on.

    Raise ScenarioError when the brief's file is refused or unreadable.
    """
    brief = loaded.scenario.brief
    if brief.file is not None:
        try:
            path = _file(loaded)
        except paths.PathRefused as exc:
            where = loaded.source.locate(("brief", "file"))
            raise ScenarioError(
                [Diagnostic(where, ("brief", "file"), exc.message, exc.hint)]
            ) from None
        return read_text(path), path, 1
    location = loaded.source.locate(("brief", "text"))
    line = location.line + 1 if location else 0  # block scalars start on the next line
    return brief.text or "", loaded.file, line


def _template_line(exc: BaseException) -> int | None:
    """Line of the template being rendered when a runtime error (undefined name) was raised.

    jinja2 rewrites tracebacks so template frames carry the template's own line numbers.
    """
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render(loaded: BriefSource, extra: Mapping[str, Any]) -> str:
    text, _, _ = _source(loaded)
    return render_template(make_environment(), text, _context(loaded, extra))


def check(loaded: BriefSource) -> list[Diagnostic]:
    """Problems rendering the brief, located in the brief's own file when it has one."""
    brief = loaded.scenario.brief
    if brief.file is not None:
        try:
            missing = not _file(loaded).is_file()
        except (paths.PathRefused, OSError):
            missing = False  # _source says why
        if missing:
            return [
                Diagnostic(
                    loaded.source.locate(("brief", "file")),
                    ("brief", "file"),
                    f"brief file {brief.file!r} not found beside scenario.yaml",
                    "create it or fix the name",
                )
            ]
    try:
        text, file, first_line = _source(loaded)
    except ScenarioError as exc:
        return exc.diagnostics
    try:
        render_template(make_environment(), text, _context(loaded, {}))
    except jinja2.TemplateError as exc:
        line = getattr(exc, "lineno", None) or _template_line(exc)
        if line and brief.file is None:
            line = first_line + line - 1
        key = ("brief", "file" if brief.file else "text")
        where = Location(file, line) if line else loaded.source.locate(key)
        return [Diagnostic(where, key, describe_template_error(exc), TEMPLATE_HINT)]
    return []
