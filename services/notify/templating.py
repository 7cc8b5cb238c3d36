"""Versioned zh-CN message templates (消息模板), rendered with Jinja2.

Each template version is one file, ``templates/<id>.v<version>.j2``, with a
block per channel (``sms``, ``email``, ``wechat``, ``web``, ``press``; ``body``
as the fallback) and a ``subject`` block. ``CATALOGUE`` names the version in
use; the id and version are recorded on every message, so an old message can
be explained by the exact text that produced it. Rendering is strict: a
missing field raises ``RenderError`` with the reason (the message becomes a
technical failure), never a crash. Dates are shown in the business
timezone the caller passes (``tz``).
"""

import dataclasses
import datetime as dt

import jinja2

from services.notify.domain import zone

# template id → version in use
CATALOGUE = {
    "feedback_invitation": 1,
    "demand_assigned": 1,
    "demand_overdue": 1,
    "rectification_opened": 1,
    "rectification_overdue": 1,
    "selection_plan": 2,
    "publicity_list": 1,
    "selection_final": 1,
    "objection_answer": 1,
}

SERVICE_NAMES = {"enterprise": "服务企业", "project": "服务项目",
                 "grassroots": "服务基层", "masses": "服务群众"}
# where ``render`` puts the timezone in a template's context
TZ_KEY = "_sifuwu_tz"


class RenderError(Exception):
    """A template cannot render from this event's data."""


@dataclasses.dataclass(frozen=True)
class Rendered:
    template: str
    version: int
    subject: str
    body: str


def zh_date(value, tz):
    """'2026-11-20T10:00:00+08:00' → '2026年11月20日' (the date in ``tz``)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            try:
                value = dt.date.fromisoformat(value[:10])
            except ValueError:
                return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(zone(tz))
        value = value.date()
    return f"{value.year}年{value.month}月{value.day}日"


def zh_datetime(value, tz):
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(zone(tz))
        return f"{zh_date(value, tz)} {value:%H:%M}"
    return zh_date(value, tz)


def _environment():
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("services.notify", "templates"),
        undefined=jinja2.StrictUndefined, autoescape=False,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters["zh_date"] = jinja2.pass_context(
        lambda ctx, value: zh_date(value, ctx[TZ_KEY]))
    env.filters["zh_datetime"] = jinja2.pass_context(
        lambda ctx, value: zh_datetime(value, ctx[TZ_KEY]))
    env.filters["service_name"] = lambda code: SERVICE_NAMES.get(code, code)
    return env


ENV = _environment()


def template_name(template_id, version):
    return f"{template_id}.v{version}.j2"


def render(template_id, channel, data, *, tz, version=None, extra=None):
    """Render ``template_id`` for ``channel`` from event ``data``, dates in
    ``tz``."""
    version = version or CATALOGUE.get(template_id)
    if version is None:
        raise RenderError(f"unknown template {template_id}")
    try:
        template = ENV.get_template(template_name(template_id, version))
        context = dict(data)
        context.update(extra or {})
        context["data"] = data
        context[TZ_KEY] = tz
        block = channel if channel in template.blocks else "body"
        if block not in template.blocks:
            raise RenderError(
                f"{template_id} v{version} has no block for {channel}")
        ctx = template.new_context(context)
        body = "".join(template.blocks[block](ctx)).strip()
        subject = ""
        if "subject" in template.blocks:
            ctx = template.new_context(context)
            subject = "".join(template.blocks["subject"](ctx)).strip()
    except RenderError:
        raise
    except jinja2.TemplateError as exc:
        raise RenderError(
            f"{template_id} v{version} ({channel}): "
            f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - bad data in a filter etc.
        raise RenderError(
            f"{template_id} v{version} ({channel}): "
            f"{type(exc).__name__}: {exc}") from exc
    if not body:
        raise RenderError(f"{template_id} v{version} ({channel}): empty body")
    return Rendered(template_id, version, subject, body)
