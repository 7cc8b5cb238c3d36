"""Boundary schemas of the directory: what the ingest contract accepts
(``directory.*``) and what ``directory.changed`` carries."""

from marshmallow import fields, validate

from services.activity.activities.domain import RECIPIENT_TYPES
from services.activity.directory import domain
from services.activity.fields import MOBILE, IngestData, OutgoingData, ident


class UnitData(IngestData):
    """directory.unit — 机关单位 (e.g. 市发改委)."""

    unit_id = ident(required=True, metadata={"example": "u-fgw"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"example": "市发展和改革委员会"})
    short_name = fields.String(load_default=None,
                               validate=validate.Length(max=30),
                               metadata={"example": "市发改委"})
    leader_member_id = ident(load_default=None,
                             metadata={"description": "单位主要负责人（督办第二级）"})
    active = fields.Boolean(load_default=True)


class DivisionData(IngestData):
    """directory.division — 处室."""

    division_id = ident(required=True, metadata={"example": "d-fgw-tz"})
    unit_id = ident(required=True, metadata={"example": "u-fgw"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"example": "投资处"})
    active = fields.Boolean(load_default=True)


class BranchData(IngestData):
    """directory.branch — 党支部."""

    branch_id = ident(required=True, metadata={"example": "b-fgw-1"})
    unit_id = ident(required=True, metadata={"example": "u-fgw"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"example": "市发改委机关第一党支部"})
    secretary_member_id = ident(load_default=None)
    active = fields.Boolean(load_default=True)


class MemberData(IngestData):
    """directory.member — 党员干部 (one branch, one division)."""

    member_id = ident(required=True, metadata={"example": "m-0001"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=50),
                         metadata={"example": "李明"})
    unit_id = ident(required=True, metadata={"example": "u-fgw"})
    branch_id = ident(load_default=None, metadata={"example": "b-fgw-1"})
    division_id = ident(load_default=None, metadata={"example": "d-fgw-tz"})
    roles = fields.List(
        fields.String(validate=validate.OneOf(domain.MEMBER_ROLES)),
        load_default=lambda: ["member"])
    phone = fields.String(load_default=None, validate=MOBILE,
                          metadata={"description": "加密存储；仅随 directory.changed 发给通知服务"})
    active = fields.Boolean(load_default=True)


class RecipientData(IngestData):
    """directory.recipient — 服务对象 (企业、项目、社区、群众)."""

    recipient_id = ident(required=True, metadata={"example": "e-0001"})
    type = fields.String(required=True,
                         validate=validate.OneOf(RECIPIENT_TYPES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"example": "滨江智造科技有限公司"})
    phone = fields.String(load_default=None, validate=MOBILE)
    credit_code = fields.String(load_default=None,
                                validate=validate.Length(max=18),
                                metadata={"description": "统一社会信用代码"})
    address = fields.String(load_default=None, validate=validate.Length(max=200))


class DirectoryChangedData(OutgoingData):
    """directory.changed — 组织架构或服务对象变更（电话仅以密封形式携带）."""

    kind = fields.String(required=True, validate=validate.OneOf(
        domain.KINDS))
    id = fields.String(required=True)
    record = fields.Dict(required=True)
