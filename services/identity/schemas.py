"""Boundary schemas of the identity service (身份服务)."""

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from sifuwu import access
from services.identity import domain

_ROLE = validate.OneOf(access.ROLES, error="未知角色")
_ID = validate.Length(min=1, max=64)
_SUBJECT = validate.Length(min=1, max=255,
                           error="统一身份认证用户标识须为 1–255 个字符")
_TOTP = validate.Regexp(r"^\d{6,8}$", error="动态口令须为 6–8 位数字")


class LoginSchema(Schema):
    class Meta:
        unknown = RAISE

    username = fields.String(required=True,
                             validate=validate.Length(min=1, max=64))
    password = fields.String(required=True,
                             validate=validate.Length(
                                 min=1, max=domain.MAX_PASSWORD))
    totp = fields.String(load_default=None,
                         validate=validate.Regexp(r"^\d{6,8}$",
                                                  error="动态口令须为 6–8 位数字"))


class AccountCreateSchema(Schema):
    class Meta:
        unknown = RAISE

    username = fields.String(required=True,
                             validate=validate.Regexp(
                                 domain.USERNAME.pattern,
                                 error="用户名须为 3–64 位小写字母、数字或 . _ -"))
    display_name = fields.String(load_default=None,
                                 validate=validate.Length(max=64))
    password = fields.String(required=True, validate=validate.Length(
        min=domain.MIN_PASSWORD, max=domain.MAX_PASSWORD,
        error=f"密码长度须为 {domain.MIN_PASSWORD}–{domain.MAX_PASSWORD} 位"))
    role = fields.String(required=True, validate=_ROLE)
    unit_id = fields.String(load_default=None, validate=_ID)
    branch_id = fields.String(load_default=None, validate=_ID)
    # the user's name at the province's 统一身份认证 (its ``sub`` or the
    # configured claim), for the OIDC login
    oidc_subject = fields.String(load_default=None, validate=_SUBJECT)


class OidcLinkSchema(Schema):
    """Link an account to its 统一身份认证 user (null unlinks)."""

    class Meta:
        unknown = RAISE

    oidc_subject = fields.String(required=True, allow_none=True,
                                 validate=_SUBJECT)


class OidcCallbackSchema(Schema):
    """The provider's redirect back (extra parameters are ignored)."""

    class Meta:
        unknown = EXCLUDE

    code = fields.String(load_default=None,
                         validate=validate.Length(max=4096))
    state = fields.String(load_default=None,
                          validate=validate.Length(max=512))
    error = fields.String(load_default=None,
                          validate=validate.Length(max=256))
    error_description = fields.String(load_default=None,
                                      validate=validate.Length(max=2048))
    iss = fields.String(load_default=None, validate=validate.Length(max=2048))


class OidcTotpSchema(Schema):
    class Meta:
        unknown = RAISE

    ticket = fields.String(required=True, validate=validate.Length(
        min=1, max=512))
    totp = fields.String(required=True, validate=_TOTP)


class RoleChangeSchema(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(required=True, validate=_ROLE)
    unit_id = fields.String(load_default=None, validate=_ID)
    branch_id = fields.String(load_default=None, validate=_ID)


class PasswordChangeSchema(Schema):
    class Meta:
        unknown = RAISE

    current_password = fields.String(required=True,
                                     validate=validate.Length(max=256))
    new_password = fields.String(required=True, validate=validate.Length(
        min=domain.MIN_PASSWORD, max=domain.MAX_PASSWORD))


class AccountSchema(Schema):
    """An account as the API shows it: never a hash or a secret."""

    id = fields.String(attribute="_id")
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    role_title = fields.Function(lambda a: access.ROLE_TITLES.get(a["role"]))
    unit_id = fields.String(allow_none=True)
    branch_id = fields.String(allow_none=True)
    status = fields.String()
    totp_enrolled = fields.Function(lambda a: bool(a.get("totp_secret")))
    oidc_subject = fields.String(allow_none=True)
    created_at = fields.DateTime(format="iso")
    created_by = fields.String(allow_none=True)
    updated_at = fields.DateTime(format="iso")
    last_login_at = fields.DateTime(format="iso", allow_none=True)
    locked_until = fields.DateTime(format="iso", allow_none=True)


def token_body(outcome, ttl):
    """The answer of a sign-in (password or 统一身份认证): the token and its
    account."""
    return {"token": outcome.token, "token_type": "Bearer",
            "expires_in": ttl, "expires_at": outcome.expires_at,
            "account": AccountSchema().dump(outcome.account)}


class AuditEntrySchema(Schema):
    id = fields.String(attribute="_id")
    at = fields.DateTime(format="iso")
    action = fields.String()
    account = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    actor_username = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    details = fields.Dict()


class KeyWindowSchema(Schema):
    kid = fields.String()
    status = fields.String()
    created_at = fields.DateTime(format="iso")
    activated_at = fields.DateTime(format="iso", allow_none=True)
    retired_at = fields.DateTime(format="iso", allow_none=True)
    publish_until = fields.DateTime(format="iso", allow_none=True)
    published = fields.Boolean()


class IdentitySchema(Schema):
    """The caller, as the token says (``GET /api/v1/me``)."""

    account = fields.String()
    username = fields.String(allow_none=True)
    role = fields.String()
    unit_id = fields.String(allow_none=True)
    branch_id = fields.String(allow_none=True)
