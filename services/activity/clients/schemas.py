"""Boundary schemas of the API clients: what the committee sends, what it
sees (never a key's secret or digest; the key's text only in the answer
that creates it)."""

from marshmallow import RAISE, Schema, fields, validate

from sifuwu import events as ev
from services.activity.clients import domain

SOURCE = validate.Length(min=1, max=64)


class ClientCreateSchema(Schema):
    """接入客户端: one outside system's account at the ingest."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True,
                         validate=validate.Length(min=1, max=100),
                         metadata={"description": "显示名称",
                                   "example": "12345 政务服务便民热线"})
    sources = fields.List(
        fields.String(validate=SOURCE), required=True,
        validate=validate.Length(min=1, max=20),
        metadata={"description": "可使用的来源系统标识（信封的 source）",
                  "example": ["hotline12345"]})
    types = fields.List(
        fields.String(validate=validate.OneOf(ev.INGEST_TYPES,
                                              error="不支持的事件类型")),
        load_default=list, validate=validate.Length(max=len(ev.INGEST_TYPES)),
        metadata={"description": "可报送的事件类型；空表示全部类型",
                  "example": ["demand.raised", "demand.updated"]})


class RotateSchema(Schema):
    class Meta:
        unknown = RAISE

    overlap_seconds = fields.Integer(
        load_default=None, validate=validate.Range(min=0),
        metadata={"description": "旧密钥继续有效的秒数（0 为立即失效；缺省取 "
                                 "SIFUWU_INGEST_KEY_OVERLAP_SECONDS，不能超过它）"})


class KeySchema(Schema):
    key_id = fields.String()
    created_at = fields.DateTime(format="iso")
    created_by = fields.String(allow_none=True)
    expires_at = fields.DateTime(format="iso", allow_none=True,
                                 metadata={"description": "重叠期结束时间；空表示长期有效"})
    state = fields.String(metadata={"enum": [domain.KEY_VALID,
                                             domain.KEY_EXPIRING,
                                             domain.KEY_EXPIRED]})


class ClientSchema(Schema):
    id = fields.String()
    name = fields.String()
    sources = fields.List(fields.String())
    types = fields.List(fields.String())
    status = fields.String(metadata={"enum": list(domain.STATUSES)})
    created_by = fields.String()
    created_at = fields.DateTime(format="iso")
    revoked_by = fields.String(allow_none=True)
    revoked_at = fields.DateTime(format="iso", allow_none=True)
    keys = fields.List(fields.Nested(KeySchema))


class AuditEntrySchema(Schema):
    action = fields.String()
    actor = fields.String(allow_none=True)
    at = fields.DateTime(format="iso")
    key_id = fields.String()
    overlap_seconds = fields.Integer()


class ClientDetailSchema(ClientSchema):
    history = fields.List(fields.Nested(AuditEntrySchema))


class IssuedKeySchema(ClientSchema):
    """A client with the key just made: ``key`` is shown this once."""

    key = fields.String(metadata={
        "description": "接入密钥 sfw_<密钥编号>_<密文>，仅在本次答复中显示一次",
        "example": "sfw_0123456789abcdef_" + "x" * 43})
