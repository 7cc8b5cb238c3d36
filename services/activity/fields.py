"""Field helpers the activity schemas share: ids, mobiles, periods, aware
datetimes, and the base classes of the ingest and outgoing data schemas."""

from marshmallow import RAISE, Schema, fields, validate

from services.activity.local_time import local

MOBILE = validate.Regexp(r"^1[3-9]\d{9}$", error="手机号格式不正确")
ID = validate.Length(min=1, max=64)
PERIOD = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$",
                         error="期间格式应为 YYYY-MM，例如 2026-11")
CATEGORY_CODE = validate.Regexp(r"^[a-z][a-z_]{0,31}$",
                                error="类别代码应为小写英文字母和下划线")


def ident(**kwargs):
    return fields.String(validate=ID, **kwargs)


def aware(**kwargs):
    return fields.AwareDateTime(
        format="iso", error_messages={
            "invalid_awareness":
                "时间须带时区偏移，例如 2026-03-01T09:30:00+08:00"},
        **kwargs)


class IngestData(Schema):
    """The ``data`` of one ingest type (unknown fields refused)."""

    class Meta:
        unknown = RAISE


class OutgoingData(Schema):
    """The ``data`` of one event this service publishes."""

    class Meta:
        unknown = RAISE


class SealedContact(OutgoingData):
    """A phone as events carry it (``sifuwu.privacy.contact``): never in
    clear; notify alone opens ``sealed`` to send."""

    ref = fields.String(required=True, metadata={
        "description": "联系方式的键控哈希（HMAC-SHA256），用于识别同一联系人"})
    sealed = fields.String(required=True, metadata={
        "description": "密钥编号:Fernet 密文（SIFUWU_CONTACT_KEYS）"})
    masked = fields.String(required=True, metadata={"example": "139****5678"})


class LocalSchema(Schema):
    """A schema that dumps times in local time: ``Schema(tz=...)``."""

    def __init__(self, *args, tz=None, **kwargs):
        self.tz = tz
        super().__init__(*args, **kwargs)


class LocalTimes(fields.Field):
    """Datetimes (also nested) in the root schema's local time."""

    def _serialize(self, value, attr, obj, **kwargs):
        tz = getattr(self.root, "tz", None)
        if tz is None:
            raise ValueError("a LocalSchema dumps times only with its tz")
        return local(value, tz)
