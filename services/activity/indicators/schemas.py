"""Boundary schemas of business indicators: ``kpi.business`` in,
``kpi.recorded`` out."""

from marshmallow import fields, validate

from services.activity.fields import (
    CATEGORY_CODE, PERIOD, IngestData, OutgoingData, ident,
)


class KpiData(IngestData):
    """kpi.business — 业务指标 for a member or a unit in a month."""

    subject_type = fields.String(required=True,
                                 validate=validate.OneOf(("member", "unit")))
    subject_id = ident(required=True)
    period = fields.String(required=True, validate=PERIOD,
                           metadata={"example": "2026-11"})
    indicator = fields.String(required=True, validate=CATEGORY_CODE,
                              metadata={"example": "projects_approved"})
    value = fields.Float(required=True, allow_nan=False)
    unit_of_measure = fields.String(load_default=None,
                                    validate=validate.Length(max=20))


class KpiRecordedData(OutgoingData):
    """kpi.recorded — 业务指标."""

    subject_type = fields.String(required=True,
                                 validate=validate.OneOf(("member", "unit")))
    subject_id = fields.String(required=True)
    period = fields.String(required=True, validate=PERIOD)
    indicator = fields.String(required=True)
    value = fields.Float(required=True)
    unit_of_measure = fields.String(allow_none=True, load_default=None)
    source = fields.String(allow_none=True, load_default=None)
