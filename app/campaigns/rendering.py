"""Campaign templates in Jinja's sandbox: compile-time checks with line numbers, and rendering."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.runtime import new_context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup

from app.core.errors import Invalid

MAX_TEMPLATE_BYTES = 512 * 1024
MAX_REPEAT = 100_000  # longest sequence `*` may build
MAX_EXPONENT = 256


class SandboxedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (templates cannot change the data they are given), with `*` and `**`
    bounded: `'a' * 10**9` or `9**9**9` would otherwise exhaust the memory or the CPU of the process."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
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


def check_template(source: str, field: str, html: bool) -> None:
    """Compile a template in the sandbox; 422 naming the field and line on a syntax error or unsafe construct."""
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
    try:
        env.from_string(source).render(**sample_context())
    except SecurityError as exc:
        raise Invalid(f"{field}: unsafe construct refused by the sandbox: {exc}", loc=["body", field]) from None
    except Exception as exc:  # noqa: BLE001 - any render error of the sample is the marketer's to fix
        line = _error_line(exc)
        where = f"line {line}: " if line else ""
        raise Invalid(f"{field}: {where}{type(exc).__name__}: {exc}", loc=["body", field]) from None


def _error_line(exc: Exception) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def sample_context() -> dict[str, Any]:
    """A customer-shaped context for compile-time checks and previews without data."""
    return {
        "customer": {"external_id": "sample", "email": "sample@example.com", "attributes": {},
                     "timezone": "UTC", "locale": "en"},
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
            return str(tmpl.environment.concat(tmpl.root_render_func(context)))
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
               unsubscribe_url: str) -> tuple[str, str, str | None]:
        """(subject, html, text) for one customer."""
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
    """Compile every template of a campaign (already checked at creation)."""
    return CompiledCampaign(
        subjects=[_fast(text_env(), s) for s in subjects],
        html=_fast(html_env(), html),
        text=_fast(text_env(), text) if text else None,
        blocks={k: _fast(html_env(), v) for k, v in blocks.items()},
        campaign={"id": campaign_id, "name": name},
    )
