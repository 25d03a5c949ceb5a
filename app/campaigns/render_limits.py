"""Limits on what one render may cost: a wall-clock budget and caps on the strings and lists a template
builds. Jinja's sandbox keeps templates away from the server's objects, but not from its CPU or memory:
`{{ ''|center(10**9) }}` asks for a gigabyte and two nested loops over `range(100000)` run for hours.

The budget is checked at every call, attribute or item access, arithmetic operation, loop iteration
(each `for` iterates through `budget_iter`) and output chunk; the size caps are checked before the
memory is asked for (the result size is computed from the operands)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from jinja2 import filters, nodes, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SecurityError
from jinja2.visitor import NodeTransformer

MAX_STRING = 1_000_000  # longest string (or list) one operation of a template may build
MAX_OUTPUT = 2_000_000  # longest rendered field
MAX_WRAP_INPUT = 20_000  # `wordwrap` is quadratic in the length of a long word
MAX_INT_BITS = 4096
_BIG_NUMBER = re.compile(r"\d{7,}")  # a width or precision of a million or more in a format string


class RenderLimit(SecurityError):
    """A render ran over its time budget or asked for too much memory."""


class _Budget(threading.local):
    deadline: float | None = None
    seconds: float = 0.0


_budget = _Budget()


@contextmanager
def render_budget(seconds: float) -> Iterator[None]:
    """Renders inside this block share one deadline `seconds` from now (nested blocks keep the outer one)."""
    if _budget.deadline is not None:
        yield
        return
    _budget.deadline, _budget.seconds = time.monotonic() + seconds, seconds
    try:
        yield
    finally:
        _budget.deadline = None


def tick() -> None:
    """Raise `RenderLimit` once the current budget is spent."""
    deadline = _budget.deadline
    if deadline is not None and time.monotonic() > deadline:
        raise RenderLimit(f"rendering took longer than its budget of {_budget.seconds:g} s")


def cap(size: int, what: str) -> None:
    if size > MAX_STRING:
        raise RenderLimit(f"{what} would build {size:,} characters or items (at most {MAX_STRING:,})")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else len(str(value))


def check_format(fmt: Any, args: Iterable[Any] = ()) -> None:
    """Refuse `%`/`str.format` patterns with widths or precisions of a million or more, given literally
    or through `*` / nested fields."""
    if not isinstance(fmt, str):
        return
    if _BIG_NUMBER.search(fmt):
        raise RenderLimit("format width or precision too large for a template")
    if ("*" in fmt or "{" in fmt) and any(isinstance(a, int) and abs(a) > MAX_STRING for a in args):
        raise RenderLimit("format width or precision too large for a template")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Size of `+`, `*` and `%` results, before they are computed."""
    tick()
    if operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        cap(len(left) + len(right), "`+`")
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise RenderLimit("number too large for a template")
    elif operator == "%" and isinstance(left, str):
        values = right if isinstance(right, tuple) else (right.values() if isinstance(right, dict) else (right,))
        check_format(left, values)


_STR_WIDTH = {"center", "ljust", "rjust", "zfill"}


def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Size of a call to a `str` method, before it runs; returns the arguments to call with (an iterable
    given to `join` is listed once, to be measured)."""
    tick()
    target = getattr(obj, "__wrapped__", obj)
    owner = getattr(target, "__self__", None)
    if not isinstance(owner, str):
        return args
    name = getattr(target, "__name__", "")
    if name in _STR_WIDTH and args and isinstance(args[0], int):
        cap(args[0], f"str.{name}")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            cap(len(owner) + owner.count("\t") * max(size, 0), "str.expandtabs")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        cap(len(owner) + owner.count(args[0]) * max(len(args[1]) - len(args[0]), 0), "str.replace")
    elif name == "join" and args:
        items = list(budget_iter(args[0]))
        cap(sum(_size(x) for x in items) + len(owner) * max(len(items) - 1, 0), "str.join")
        return (items, *args[1:])
    elif name in {"format", "format_map"}:
        check_format(owner, [*args, *kwargs.values(), *(args[0].values() if name == "format_map" and args
                                                          and isinstance(args[0], dict) else ())])
    return args


def budget_iter(value: Any) -> Iterator[Any]:
    """Iterate, checking the budget at every item (what each `for` loop of a template goes through)."""
    for item in value:
        tick()
        yield item


@pass_eval_context
def budget_concat(eval_ctx: EvalContext, parts: list[Any]) -> str:
    """`a ~ b ~ …` with its length checked first."""
    tick()
    cap(sum(_size(p) for p in parts), "`~`")
    return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


def do_center(value: Any, width: int = 80) -> str:
    cap(int(width), "center")
    return filters.do_center(value, width)


@pass_eval_context
def do_join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = list(budget_iter(value))
    if attribute is not None:
        getter = filters.make_attrgetter(eval_ctx.environment, attribute)
        items = [getter(x) for x in items]
    cap(sum(_size(x) for x in items) + len(str(d)) * max(len(items) - 1, 0), "join")
    return filters.sync_do_join(eval_ctx, items, d)


@pass_eval_context
def do_replace(eval_ctx: EvalContext, s: str, old: str, new: str, count: int | None = None) -> str:
    text, old_s, new_s = str(s), str(old), str(new)
    hits = text.count(old_s) if count is None else min(max(count, 0), text.count(old_s))
    cap(len(text) + hits * max(len(new_s) - len(old_s), 0), "replace")
    return filters.do_replace(eval_ctx, s, old, new, count)


def do_format(value: str, *args: Any, **kwargs: Any) -> str:
    check_format(str(value), [*args, *kwargs.values()])
    out = filters.do_format(value, *args, **kwargs)
    cap(len(out), "format")
    return out


@pass_eval_context
def do_wordwrap(eval_ctx: EvalContext, s: str, width: int = 79, break_long_words: bool = True,
                wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
    text = str(s)
    if len(text) > MAX_WRAP_INPUT:
        raise RenderLimit(f"wordwrap takes at most {MAX_WRAP_INPUT:,} characters")
    sep = wrapstring if wrapstring is not None else eval_ctx.environment.newline_sequence
    cap(len(text) * (1 + len(str(sep))), "wordwrap")
    return filters.do_wordwrap(eval_ctx.environment, s, width, break_long_words, wrapstring, break_on_hyphens)


def do_indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    pad = len(width) if isinstance(width, str) else int(width)
    cap(len(text) + (text.count("\n") + 1) * max(pad, 0), "indent")
    return filters.do_indent(s, width, first, blank)


def do_batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    cap(int(linecount), "batch")
    return filters.do_batch(budget_iter(value), linecount, fill_with)


def do_slice(value: Any, slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    cap(int(slices), "slice")
    return filters.sync_do_slice(list(budget_iter(value)), slices, fill_with)



LIMITED_FILTERS: dict[str, Any] = {
    "center": do_center, "join": do_join, "replace": do_replace, "format": do_format,
    "wordwrap": do_wordwrap, "indent": do_indent, "batch": do_batch, "slice": do_slice,
    "budget_iter": budget_iter, "budget_concat": budget_concat,
}


class BudgetTransformer(NodeTransformer):
    """Routes every `for` loop's iterable through `budget_iter` and every `~` through `budget_concat`."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "budget_iter", [], [], None, None, lineno=node.iter.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(nodes.List(node.nodes, lineno=node.lineno), "budget_concat", [], [], None, None,
                            lineno=node.lineno)
