"""Campaign templates in Jinja's sandbox: compile-time checks with line numbers, and rendering."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.runtime import new_context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup

from app.campaigns import render_limits
from app.campaigns.render_limits import MAX_OUTPUT, RenderLimit, render_budget, tick
from app.core.config import get_settings
from app.core.errors import Invalid

MAX_TEMPLATE_BYTES = 512 * 1024
MAX_REPEAT = 100_000  # longest sequence `*` may build
MAX_EXPONENT = 256


class SandboxedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (templates cannot change the data they are given), with what a render
    may cost bounded (`render_limits`): `'a' * 10**9`, `9**9**9`, `''|center(10**9)` or nested loops
    would otherwise exhaust the memory or the CPU of the process."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters.update(render_limits.LIMITED_FILTERS)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        return render_limits.BudgetTransformer().visit(tree)  # type: ignore[no-any-return]

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        args = render_limits.check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        render_limits.check_binop(operator, left, right)
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT \
                and isinstance(left, int | float) and abs(left) > 1:
            raise SecurityError("power too large for a template")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_REPEAT:
                    raise SecurityError("sequence repetition too large for a template")
        return super().call_binop(context, operator, left, right)


@lru_cache
def html_env() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=True, keep_trailing_newline=True)


@lru_cache
def text_env() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@lru_cache
def strict_env(html: bool) -> SandboxedEnvironment:
    """The sandbox with strict undefined: naming a missing variable or attribute raises (the pre-launch check)."""
    return SandboxedEnvironment(autoescape=html, keep_trailing_newline=True, undefined=StrictUndefined)


def _unsafe_node(tree: nodes.Template) -> nodes.Node | None:
    """The first attribute or item access to a private/dunder name: the start of every known SSTI chain."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(getattr(node, "arg", None), "value", None)
        if isinstance(name, str) and name.startswith("_"):
            return node
    for node in tree.find_all(nodes.Const):
        # A dunder string anywhere in an expression feeds attr()/map(attribute=…) style lookups.
        if isinstance(node.value, str) and node.value.startswith("__"):
            return node
    for node in tree.find_all(nodes.Name):
        if node.name.startswith("_") or node.name in {"self", "lipsum", "cycler", "joiner"}:
            return node
    return None


class RenderError(Exception):
    """A template failed for one customer (its own error, a sandbox refusal, or a budget overrun)."""


def describe(exc: BaseException) -> str:
    """`line N: Type: message` for an exception raised while rendering."""
    line = _error_line(exc)
    where = f"line {line}: " if line else ""
    return f"{where}{type(exc).__name__}: {exc}"[:500]


def check_template(source: str, field: str, html: bool, budget: float | None = None) -> None:
    """Compile a template in the sandbox and render it for each of `sample_customers()` within one time
    budget; 422 naming the field (and line) on a syntax error, an unsafe construct, a render error or an
    overrun."""
    if len(source.encode()) > MAX_TEMPLATE_BYTES:
        raise Invalid(f"{field}: template larger than 512 kB", loc=["body", field])
    env = html_env() if html else text_env()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise Invalid(f"{field}: line {exc.lineno}: {exc.message}", loc=["body", field]) from None
    bad = _unsafe_node(tree)
    if bad is not None:
        raise Invalid(f"{field}: line {bad.lineno}: unsafe construct refused by the sandbox", loc=["body", field])
    template = FastTemplate(env.from_string(source))
    seconds = budget if budget is not None else get_settings().TEMPLATE_CHECK_SECONDS
    try:
        with render_budget(seconds):
            for customer in sample_customers():
                template.render(**sample_context(customer))
    except RenderLimit as exc:
        raise Invalid(f"{field}: {exc}", loc=["body", field]) from None
    except SecurityError as exc:
        raise Invalid(f"{field}: unsafe construct refused by the sandbox: {exc}", loc=["body", field]) from None
    except Exception as exc:  # noqa: BLE001 - any render error of a sample is the marketer's to fix
        sample = customer.get("external_id")
        raise Invalid(f"{field}: {describe(exc)} (sample customer {sample!r})", loc=["body", field]) from None


def _error_line(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def sample_customers() -> list[dict[str, Any]]:
    """Customers a template is checked against at creation: varied ids, attributes, zones and locales, one
    of them random, so a branch taken only for some customers is less likely to escape the check."""
    rows = [
        ("sample", {}, "UTC", "en"),
        ("x", {"first_name": "Ada", "last_name": "Lovelace"}, "Europe/London", "en-GB"),
        ("1", {"first_name": ""}, "America/New_York", "en-US"),
        ("0", {"first_name": "Zoë", "city": "Zürich", "plan": "pro"}, "Europe/Zurich", "de"),
        ("test", {"first_name": "<b>Eve</b>"}, "Asia/Tokyo", "ja"),
        ("admin", {"plan": "free"}, "Australia/Sydney", "fr"),
        ("customer-42", {"first_name": "Mo", "last_name": "O'Neil"}, "America/Sao_Paulo", "pt-BR"),
        (secrets.token_hex(8), {"first_name": secrets.token_hex(3)}, "UTC", "es"),
    ]
    return [{"external_id": eid, "email": f"{eid or 'blank'}@example.com", "attributes": attrs,
             "timezone": tz, "locale": locale} for eid, attrs, tz, locale in rows]


def sample_context(customer: dict[str, Any] | None = None) -> dict[str, Any]:
    """A customer-shaped context for compile-time checks and previews without data."""
    return {
        "customer": customer or sample_customers()[0],
        "content": Markup(""),
        "category": "",
        "unsubscribe_url": "https://example.com/u/sample",
        "campaign": {"id": "sample", "name": "sample"},
    }


class FastTemplate:
    """A compiled template rendered per customer without Jinja's per-call merge of its globals (a ChainMap
    walked on every `render`); a template that is only literal text is rendered once and reused."""

    __slots__ = ("template", "globals", "static")

    def __init__(self, template: Any) -> None:
        self.template = template
        self.globals = dict(template.globals)
        self.static: str | None = None

    def render(self, **ctx: Any) -> str:
        if self.static is not None:
            return self.static
        tmpl = self.template
        context = new_context(tmpl.environment, tmpl.name, tmpl.blocks, {**self.globals, **ctx}, True,
                              self.globals, None)
        try:
            out, size = [], 0
            for chunk in tmpl.root_render_func(context):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise RenderLimit(f"rendered text longer than {MAX_OUTPUT:,} characters")
                tick()
                out.append(chunk)
            return str(tmpl.environment.concat(out))
        except Exception:  # noqa: BLE001 - rethrown by Jinja with the template's line numbers
            tmpl.environment.handle_exception()
            raise  # unreachable: handle_exception always raises


def _fast(env: SandboxedEnvironment, source: str) -> FastTemplate:
    fast = FastTemplate(env.from_string(source))
    try:
        tree = env.parse(source)
    except TemplateSyntaxError:
        return fast
    # Only literal text (no expression, tag or variable): the same output for every customer.
    if all(isinstance(node, nodes.Output) and all(isinstance(n, nodes.TemplateData) for n in node.nodes)
           for node in tree.body):
        fast.static = fast.template.render()
    return fast


@dataclass
class CompiledCampaign:
    """A campaign's templates compiled once, rendered per customer."""

    subjects: list[Any]
    html: Any
    text: Any | None
    blocks: dict[str, Any]
    campaign: dict[str, str]

    def render(self, customer: dict[str, Any], subject_index: int, category: str | None,
               unsubscribe_url: str, budget: float | None = None) -> tuple[str, str, str | None]:
        """(subject, html, text) for one customer, within a time budget (`RENDER_BUDGET_SECONDS` unless
        given); `RenderError` saying what failed and where, for any failure."""
        seconds = budget if budget is not None else get_settings().RENDER_BUDGET_SECONDS
        try:
            with render_budget(seconds):
                return self._render(customer, subject_index, category, unsubscribe_url)
        except Exception as exc:  # noqa: BLE001 - a template's failure is reported, never raised as is
            raise RenderError(describe(exc)) from None

    def _render(self, customer: dict[str, Any], subject_index: int, category: str | None,
                unsubscribe_url: str) -> tuple[str, str, str | None]:
        ctx: dict[str, Any] = {"customer": customer, "category": category or "",
                               "unsubscribe_url": unsubscribe_url, "campaign": self.campaign}
        block = self.blocks.get(category or "")
        # The block was rendered by the autoescaping sandbox: its output is already safe HTML.
        ctx["content"] = Markup(block.render(**ctx)) if block is not None else Markup("")  # noqa: S704
        subject = self.subjects[subject_index].render(**ctx).strip().replace("\r", " ").replace("\n", " ")
        html = self.html.render(**ctx)
        text = self.text.render(**ctx) if self.text is not None else None
        return subject, html, text


def compile_campaign(campaign_id: str, name: str, subjects: list[str], html: str, text: str | None,
                     blocks: dict[str, str]) -> CompiledCampaign:
    """Compile every template of a campaign (checked at creation); `RenderError` if one no longer compiles."""
    try:
        return CompiledCampaign(
            subjects=[_fast(text_env(), s) for s in subjects],
            html=_fast(html_env(), html),
            text=_fast(text_env(), text) if text else None,
            blocks={k: _fast(html_env(), v) for k, v in blocks.items()},
            campaign={"id": campaign_id, "name": name},
        )
    except Exception as exc:  # noqa: BLE001 - a stored template that does not compile fails its messages
        raise RenderError(f"template does not compile: {describe(exc)}") from None
