"""Who may call the identity service's routes (访问策略), as data: route
name (``identity.<entrypoint>``) → rule (``sifuwu.access``). A test checks
that every HTTP entrypoint of the service is listed here."""

from sifuwu.access import (
    AUDITOR, COMMITTEE, OPERATOR, Policy, allow, any_staff, public,
)

POLICY = Policy({
    "identity.health": public(),
    "identity.prometheus_metrics": public(),
    "identity.login": public(),
    "identity.jwks": public(),
    "identity.me": any_staff(),
    "identity.change_password": any_staff(),
    "identity.list_accounts": allow(COMMITTEE, AUDITOR, scope="city"),
    "identity.get_account": allow(COMMITTEE, AUDITOR, scope="city"),
    "identity.create_account": allow(COMMITTEE, scope="city"),
    "identity.disable_account": allow(COMMITTEE, scope="city"),
    "identity.enable_account": allow(COMMITTEE, scope="city"),
    "identity.change_role": allow(COMMITTEE, scope="city"),
    "identity.audit": allow(COMMITTEE, AUDITOR, scope="city"),
    "identity.list_keys": allow(COMMITTEE, OPERATOR, AUDITOR, scope="city"),
    "identity.rotate_keys": allow(COMMITTEE, OPERATOR, scope="city"),
})
