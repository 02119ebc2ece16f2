"""Render a scenario document's strings with its variables, and drop items whose ``when`` is false.

Rendering is strict: an undefined variable is an error, not an empty string. A string that is
exactly one ``{{ expression }}`` keeps the expression's type (a list stays a list, a number a
number), so ``points: "{{ weight }}"`` or ``groups: "{{ team_groups }}"`` work.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment, SecurityError
from jinja2.utils import Namespace

from tai_labs.scenario import limits
from tai_labs.scenario.diagnostics import Diagnostic, KeyPath
from tai_labs.scenario.source import SourceMap

_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}).)*)\}\}$", re.DOTALL)
#: Sections whose strings are not rendered with the document (see module docs).
UNRENDERED = frozenset({"variables", "brief"})
#: Lists whose items may carry a ``when`` condition.
CONDITIONAL_LISTS: tuple[KeyPath, ...] = (
    ("setup",),
    ("faults",),
    ("checks",),
    ("hints",),
    ("solution", "steps"),
    ("solution", "alternatives"),
    ("solution", "wrong"),
    ("solution", "alternatives", "*", "steps"),
    ("solution", "wrong", "*", "steps"),
)


class TemplateLimitError(SecurityError):
    """A template went past a limit (output size, steps, time, number size)."""


_COMPILED_CACHE = 2048
_BIG_FORMAT = re.compile(r"\d{6,}")  # a width or precision of a million characters


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus bounds: numbers, strings and lists a template builds stay small.

    Arithmetic, repetition, concatenation, formatting, filters and calls whose result would
    pass ``MAX_TEMPLATE_OUTPUT`` are refused before they run; the time and the lines of
    template code one evaluation may run are bounded by ``_budget``.
    """

    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals.pop("lipsum", None)  # generates text of any size; no scenario needs it
        self.globals["range"] = _bounded_range
        self.globals["namespace"] = _BoundedNamespace
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self._compiled: dict[tuple[bool, str], Any] = {}

    def compiled(self, text: str, *, expression: bool = False) -> Any:
        """``text`` compiled once (variants and candidates render the same strings again)."""
        key = (expression, text)
        found = self._compiled.get(key)
        if found is None:
            if len(self._compiled) >= _COMPILED_CACHE:
                self._compiled.clear()
            if expression:
                found = self.compile_expression(text, undefined_to_none=False)
            else:
                found = self.from_string(text)
            self._compiled[key] = found
        return found

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _is_number(left) and _is_number(right):
            big = isinstance(left, int) and isinstance(right, int) and abs(left) > 1
            if big and right * math.log2(abs(left)) > 8 * limits.MAX_TEMPLATE_OUTPUT:
                raise TemplateLimitError(f"{left} ** {right} is too large a number")
        elif operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    _check_size(len(seq) * max(n, 0))
        elif operator == "+" and isinstance(left, str | list | tuple):
            _check_size(len(left) + (len(right) if isinstance(right, str | list | tuple) else 0))
        elif operator == "%" and isinstance(left, str) and _BIG_FORMAT.search(left):
            raise TemplateLimitError("a format width of a million characters or more")
        return _check_result(super().call_binop(context, operator, left, right))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_format(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_format(obj, argument)
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_arguments(args, kwargs)
        bound_to = getattr(__obj, "__self__", None)
        if isinstance(bound_to, str) and _BIG_FORMAT.search(bound_to):
            raise TemplateLimitError("a format width of a million characters or more")
        return _check_result(super().call(__context, __obj, *args, **kwargs))


def _check_format(obj: Any, attribute: Any) -> None:
    """``'{:>1000000000}'.format(1)``: refuse the width before the string is built."""
    if attribute in ("format", "format_map") and isinstance(obj, str) and _BIG_FORMAT.search(obj):
        raise TemplateLimitError("a format width of a million characters or more")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_size(size: int) -> None:
    if size > limits.MAX_TEMPLATE_OUTPUT:
        raise TemplateLimitError(
            f"a value of {size} characters or items, more than {limits.MAX_TEMPLATE_OUTPUT}"
        )


def _check_result(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict):
        _check_size(len(value))
    elif isinstance(value, int) and value.bit_length() > 8 * limits.MAX_TEMPLATE_OUTPUT:
        raise TemplateLimitError("too large a number")
    return value


def _check_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Sizes given to a filter or method (a width, a count) stay under the output bound."""
    for value in (*args, *kwargs.values()):
        if _is_number(value) and abs(value) > limits.MAX_TEMPLATE_OUTPUT:
            raise TemplateLimitError(
                f"argument {value!r} is larger than {limits.MAX_TEMPLATE_OUTPUT}"
            )


def _guard_filter(name: str, func: Any) -> Any:
    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        # Filters get (context or environment,) value, then their own arguments; only the
        # own arguments are sizes. ``format`` takes its format string as the value.
        own = args[2:] if getattr(func, "jinja_pass_arg", None) else args[1:]
        _check_arguments(own, kwargs)
        if name == "format" and any(isinstance(a, str) and _BIG_FORMAT.search(a) for a in args):
            raise TemplateLimitError("a format width of a million characters or more")
        return _check_result(func(*args, **kwargs))

    return guarded


def _bounded_range(*args: int) -> range:
    _check_arguments(args, {})
    result = range(*args)
    _check_size(len(result))
    return result


class _BoundedNamespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, _check_result(value))


@dataclass
class _SharedBudget:
    """What is left of one load's template budget (see ``load_budget``)."""

    steps: int
    deadline: float


_SHARED: ContextVar[_SharedBudget | None] = ContextVar("tai_labs_template_budget", default=None)


@contextmanager
def load_budget() -> Iterator[None]:
    """One budget for every template evaluated inside (a load, a validation of all variants).

    Nested uses share the outermost budget. Outside any, each evaluation has its own bound only.
    """
    if _SHARED.get() is not None:
        yield
        return
    budget = _SharedBudget(
        limits.MAX_LOAD_TEMPLATE_STEPS, time.monotonic() + limits.MAX_LOAD_TEMPLATE_SECONDS
    )
    token = _SHARED.set(budget)
    try:
        yield
    finally:
        _SHARED.reset(token)


def budget_spent() -> bool:
    """Whether the enclosing ``load_budget`` is used up (every further evaluation would fail)."""
    shared = _SHARED.get()
    return shared is not None and (shared.steps <= 0 or time.monotonic() > shared.deadline)


def _limit_message() -> str:
    # One message for every bound: which one trips first depends on the machine.
    return (
        f"ran too long (more than {limits.MAX_TEMPLATE_STEPS} steps, "
        f"{limits.MAX_LOAD_TEMPLATE_STEPS} for all the templates of the scenario, "
        f"or {max(limits.MAX_TEMPLATE_SECONDS, limits.MAX_LOAD_TEMPLATE_SECONDS):g} s)"
    )


@contextmanager
def _budget() -> Iterator[None]:
    """Bound the template code run inside: lines executed and wall time (this thread only),
    for this evaluation and, inside ``load_budget``, for all the load's evaluations together.

    A trace function sees each line of compiled template code (``<template>`` frames), so a
    loop that never calls anything is still counted.
    """
    shared = _SHARED.get()
    max_steps = limits.MAX_TEMPLATE_STEPS
    deadline = time.monotonic() + limits.MAX_TEMPLATE_SECONDS
    if shared is not None:
        max_steps = min(max_steps, shared.steps)
        deadline = min(deadline, shared.deadline)
    steps = 0

    def count(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal steps
        steps += 1
        if steps > max_steps or (steps % 512 == 0 and time.monotonic() > deadline):
            raise TemplateLimitError(_limit_message())
        return count

    def enter(frame: FrameType, event: str, arg: Any) -> Any:
        return count if frame.f_code.co_filename == "<template>" else None

    previous = sys.gettrace()
    sys.settrace(enter)
    try:
        yield
    finally:
        sys.settrace(previous)
        if shared is not None:
            shared.steps = max(0, shared.steps - steps)


def _evaluate(run: Callable[[], Any]) -> Any:
    """Run template code; whatever goes wrong in it is the author's error, a TemplateError.

    A template is code from the scenario's author: its ``1/0``, ``'a' + 1`` or recursion is
    reported like a syntax error, with the line, never as a crash of the tool.
    """
    try:
        with _budget():
            return run()
    except jinja2.TemplateError:
        raise
    except RecursionError:
        raise TemplateLimitError("macros or values call each other too deeply") from None
    except MemoryError:
        raise TemplateLimitError("the template needs too much memory") from None
    except Exception as exc:
        error = jinja2.TemplateRuntimeError(f"{exc} ({type(exc).__name__})")
        error.lineno = _template_line(exc)  # type: ignore[attr-defined]
        raise error from None


def error_line(exc: jinja2.TemplateError) -> int | None:
    """The template's line a TemplateError points at (syntax or runtime), if known."""
    return getattr(exc, "lineno", None) or _template_line(exc)


def _template_line(exc: BaseException) -> int | None:
    """The line of template code that raised ``exc`` (jinja2 maps template frames to it)."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@functools.cache
def make_environment() -> SandboxedEnvironment:
    """The one environment scenario templates run in (shared: it caches compiled templates).

    Sandboxed and bounded: scenarios are data from authors we do not fully control.
    """
    return BoundedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _compile(env: jinja2.Environment, text: str, *, expression: bool) -> Any:
    """Compile outside the budget (the compiler is ours, not the author's code)."""
    try:
        if isinstance(env, BoundedEnvironment):
            return env.compiled(text, expression=expression)
        if expression:
            return env.compile_expression(text, undefined_to_none=False)
        return env.from_string(text)
    except jinja2.TemplateError:
        raise
    except RecursionError:  # a deeply nested expression, beyond the compiler's stack
        raise TemplateLimitError("the expression is nested too deeply") from None


def render_template(env: jinja2.Environment, text: str, context: Mapping[str, Any]) -> str:
    """Render a whole template (a brief, a file), its output bounded to MAX_TEMPLATE_OUTPUT."""

    template = _compile(env, text, expression=False)

    def run() -> str:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(**context):
            size += len(chunk)
            _check_size(size)
            chunks.append(chunk)
        return "".join(chunks)

    return _evaluate(run)  # type: ignore[no-any-return]


def render_value(env: jinja2.Environment, text: str, context: Mapping[str, Any]) -> Any:
    """Render one string; keep the native type when it is a single expression."""
    if "{{" not in text and "{%" not in text:
        return text
    match = _SINGLE_EXPRESSION.match(text.strip())
    if match:
        return evaluate(env, match["expr"].strip(), context)
    return render_template(env, text, context)


def evaluate(env: jinja2.Environment, expression: str, context: Mapping[str, Any]) -> Any:
    compiled = _compile(env, expression, expression=True)

    def run() -> Any:
        value = compiled(**context)
        _fail_on_undefined(value)
        return _check_result(value)

    return _evaluate(run)


def _fail_on_undefined(value: Any, depth: int = 0) -> None:
    """An undefined value kept as a native result fails now, not later in the model stage."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if depth < 4 and isinstance(value, list | tuple):
        for item in value:
            _fail_on_undefined(item, depth + 1)
    elif depth < 4 and isinstance(value, dict):
        for item in value.values():
            _fail_on_undefined(item, depth + 1)


def describe_template_error(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"template error: {exc.message}"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    if isinstance(exc, TemplateLimitError):
        return f"template limit: {exc.message}"
    return f"template error: {exc}"


TEMPLATE_HINT = "check the variable names under 'variables:' and the jinja2 syntax"


@dataclass
class Rendered:
    data: Any
    srcmap: SourceMap
    problems: list[Diagnostic] = field(default_factory=list)


def render_document(
    env: jinja2.Environment, data: dict[str, Any], srcmap: SourceMap, context: Mapping[str, Any]
) -> Rendered:
    problems: list[Diagnostic] = []

    def walk(value: Any, path: KeyPath) -> Any:
        if isinstance(value, dict):
            return {
                k: (v if (not path and k in UNRENDERED) or k == "when" else walk(v, (*path, k)))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str):
            try:
                return render_value(env, value, context)
            except jinja2.TemplateError as exc:
                problems.append(
                    Diagnostic(
                        srcmap.locate(path), path, describe_template_error(exc), TEMPLATE_HINT
                    )
                )
                return value
        return value

    rendered = walk(data, ())
    out_map = SourceMap(dict(srcmap.locations))
    for pattern in CONDITIONAL_LISTS:
        for list_path in _expand(rendered, pattern):
            _filter_when(env, rendered, list_path, out_map, context, problems)
    return Rendered(rendered, out_map, problems)


def _expand(document: Any, pattern: KeyPath, prefix: KeyPath = ()) -> list[KeyPath]:
    """Concrete paths matching ``pattern``, where ``*`` stands for every index of a list."""
    if not pattern:
        return [prefix]
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if not isinstance(document, list):
            return []
        return [p for i, item in enumerate(document) for p in _expand(item, rest, (*prefix, i))]
    if not isinstance(document, dict) or head not in document:
        return []
    return _expand(document[head], rest, (*prefix, head))


def _filter_when(
    env: jinja2.Environment,
    document: dict[str, Any],
    list_path: KeyPath,
    srcmap: SourceMap,
    context: Mapping[str, Any],
    problems: list[Diagnostic],
) -> None:
    parent: Any = document
    for key in list_path[:-1]:
        # The path goes through lists too (solution.alternatives[0].steps): index them.
        if isinstance(parent, dict):
            parent = parent.get(key)
        elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
            parent = parent[key]
        else:
            parent = None
    items = parent.get(list_path[-1]) if isinstance(parent, dict) else None
    if not isinstance(items, list):
        return
    kept: list[tuple[int, Any]] = []
    for i, item in enumerate(items):
        keep = True
        if isinstance(item, dict) and "when" in item:
            where = (*list_path, i, "when")
            condition = item["when"]
            try:
                keep = bool(evaluate(env, str(condition), context))
            except jinja2.TemplateError as exc:
                problems.append(
                    Diagnostic(
                        srcmap.locate(where), where, describe_template_error(exc), TEMPLATE_HINT
                    )
                )
            item = {k: v for k, v in item.items() if k != "when"}
        if keep:
            kept.append((i, item))
    if len(kept) < len(items):  # items moved up: their lines move with them
        old_map = SourceMap()
        old_map.graft(list_path, srcmap, list_path)
        for new_index, (i, _) in enumerate(kept):
            srcmap.drop((*list_path, new_index))
            srcmap.graft((*list_path, new_index), old_map, (*list_path, i))
        for stale in range(len(kept), len(items)):
            srcmap.drop((*list_path, stale))
    parent[list_path[-1]] = [item for _, item in kept]
