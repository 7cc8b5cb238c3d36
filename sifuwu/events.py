"""The one event vocabulary (事件词汇) and the envelope every event travels in.

Every event, internal or ingested, carries ``event_id`` (dedupe key), ``type``
(``noun.past_verb``), ``source``, ``occurred_at`` (ISO 8601 with offset),
``correlation_id`` (follows one story across services) and ``data``.
"""

import datetime as dt
import uuid

from marshmallow import (
    EXCLUDE, Schema, ValidationError, fields, validate, validates,
)

# Internal events, by the service that publishes them.
ACTIVITY_LOGGED = "activity.logged"
PARTY_ACTIVITY_LOGGED = "party_activity.logged"
DEMAND_RAISED = "demand.raised"
DEMAND_STATUS_CHANGED = "demand.status_changed"
DEMAND_OVERDUE = "demand.overdue"
DIRECTORY_CHANGED = "directory.changed"
KPI_RECORDED = "kpi.recorded"

INVITATION_ISSUED = "invitation.issued"
FEEDBACK_SUBMITTED = "feedback.submitted"
RECTIFICATION_OPENED = "rectification.opened"
RECTIFICATION_OVERDUE = "rectification.overdue"
RECTIFICATION_CLOSED = "rectification.closed"
APPEAL_DECIDED = "appeal.decided"
RECOMMENDATION_SUBMITTED = "recommendation.submitted"
OBJECTION_FILED = "objection.filed"
OBJECTION_ANSWERED = "objection.answered"   # the answer on the board, to the objector

SCORECARD_UPDATED = "scorecard.updated"
RANKING_PUBLISHED = "ranking.published"
BRANCH_RUNG_CHANGED = "branch.rung_changed"
SELECTION_PUBLISHED = "selection.published"
PUBLICITY_OPENED = "publicity.opened"
SELECTION_FINALISED = "selection.finalised"
# the campaign's ruling on an objection (audit trail; removes the candidate)
OBJECTION_DECIDED = "objection.decided"

MESSAGE_DELIVERED = "message.delivered"

# Types other government systems may send through the ingest contract.
INGEST_TYPES = (
    "directory.unit",
    "directory.division",
    "directory.branch",
    "directory.member",
    "directory.recipient",
    "activity.service",
    "activity.party",
    "demand.raised",
    "demand.updated",
    "kpi.business",
)

EVENT_TYPE_PATTERN = r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$"


def utcnow():
    return dt.datetime.now(dt.timezone.utc)


def new_id():
    return uuid.uuid4().hex


class EnvelopeSchema(Schema):
    """事件信封: the envelope of every event."""

    class Meta:
        unknown = EXCLUDE

    event_id = fields.String(
        required=True, validate=validate.Length(min=1, max=128))
    type = fields.String(
        required=True, validate=validate.Regexp(
            EVENT_TYPE_PATTERN, error="事件类型格式应为 noun.past_verb"))
    source = fields.String(
        required=True, validate=validate.Length(min=1, max=64))
    occurred_at = fields.AwareDateTime(
        required=True, format="iso",
        error_messages={"invalid_awareness": "时间须带时区偏移，例如 2026-03-01T09:30:00+08:00"})
    correlation_id = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=128))
    data = fields.Dict(required=True)

    @validates("event_id")
    def _no_operators(self, value, **_):
        if value.startswith("$"):
            raise ValidationError("event_id 不能以 $ 开头")


def make_event(event_type, data, *, source, correlation_id=None,
               event_id=None, occurred_at=None):
    """Build an envelope as a plain JSON-ready dict."""
    occurred = occurred_at or utcnow()
    return {
        "event_id": event_id or new_id(),
        "type": event_type,
        "source": source,
        "occurred_at": occurred.isoformat(),
        "correlation_id": correlation_id,
        "data": data,
    }


def load_envelope(payload):
    """Validate an envelope; raises marshmallow.ValidationError."""
    return EnvelopeSchema().load(payload)
