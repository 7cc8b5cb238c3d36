"""Who may call which route (访问策略), for every service, as one table.

A route is named ``<service>.<entrypoint method>``. Its rule says who may
call it (``sifuwu.access``): ``public()`` (anyone: the rating page, the
publicity board, the judges' page, health), ``system()`` (an outside
system's key, checked by the ingest route itself), or the roles allowed and
how far each sees (``CITY``; ``OWN``: a unit-bound role its unit, a branch
secretary their branch). Every HTTP entrypoint checks its rule before the
service code runs (``sifuwu.web.http``); a route missing from the table is
refused, and ``tests/unit/test_policy.py`` walks every service's routes so a
new one cannot ship without a rule.

A role granted ``OWN`` on a route sees only its own unit's or branch's
records there: the route filters its lists with ``Grant.filter`` and answers
404 for another unit's record with ``Grant.check``. Routes whose records are
not scoped yet are not granted to unit-bound roles at all (they answer 403),
so nothing is shown beyond a role's scope while scoping is built out.

``docs/security.md`` shows this table as role × permission.
"""

from sifuwu.access import (
    AUDITOR, BRANCH_SECRETARY, CITY, COMMITTEE, OPERATOR, SUPERVISOR,
    UNIT_STAFF, Policy, allow, any_staff, public, scrape, system,
)

# Who reads city-wide, read-only: 督查 and 审计 beside 工委.
OVERSIGHT = (COMMITTEE, SUPERVISOR, AUDITOR)


def committee():
    return allow(COMMITTEE, scope=CITY)


def oversight():
    return allow(*OVERSIGHT, scope=CITY)


def scoped(*city_roles):
    """``city_roles`` city-wide, unit staff and branch secretaries in
    their own unit or branch."""
    return allow(*city_roles, scope=CITY) | allow(UNIT_STAFF, BRANCH_SECRETARY)


# Every service's own routes, from ``ServiceBase``.
COMMON = {
    "health": public(),
    "liveness": public(),
    # Prometheus with the scrape token, or a 运维 / 工委 account
    "prometheus_metrics": scrape(OPERATOR, COMMITTEE),
    # the service's contract (OpenAPI) and its Swagger UI page
    "openapi_json": public(),
    "api_docs": public(),
    "api_docs_asset": public(),
}

ROUTES = {
    "activity": {
        "ingest_event": system(),
        "ingest_batch": system(),
        "log_activity": scoped(COMMITTEE),
        "list_activities": scoped(*OVERSIGHT),
        "get_activity": scoped(*OVERSIGHT),
        "list_demands": scoped(*OVERSIGHT),
        "get_demand": scoped(*OVERSIGHT),
        "act_on_demand": allow(COMMITTEE, SUPERVISOR, scope=CITY)
        | allow(UNIT_STAFF),
        "create_campaign": committee(),
        "list_campaigns": any_staff(scope=CITY),
        "campaign_progress": any_staff(scope=CITY),
        # API clients of outside systems (接入客户端): the committee
        # manages them; 审计 and 运维 read them (no key is ever shown)
        "create_client": committee(),
        "list_clients": allow(COMMITTEE, AUDITOR, OPERATOR, scope=CITY),
        "get_client": allow(COMMITTEE, AUDITOR, OPERATOR, scope=CITY),
        "rotate_client_key": committee(),
        "revoke_client": committee(),
        "get_receipt": allow(COMMITTEE, AUDITOR, OPERATOR, scope=CITY),
    },
    "assessment": {
        "list_schemes": any_staff(scope=CITY),
        "get_scheme": any_staff(scope=CITY),
        "create_scheme": committee(),
        "rescore": committee(),
        "evaluate_ladder": committee(),
        "publish_ranking": committee(),
        "get_ranking": oversight(),
        "get_rates": oversight(),
        # units', branches' and the three rates' charts are public; members'
        # need an oversight role (checked in the route)
        "ranking_chart": public() | oversight(),
        "trend_chart": public() | scoped(*OVERSIGHT),
        "get_branch": scoped(*OVERSIGHT),
        "member_scorecard": scoped(*OVERSIGHT),
        "subject_scorecard": scoped(*OVERSIGHT),
        "export_csv": allow(COMMITTEE, AUDITOR, scope=CITY),
        "export_xlsx": allow(COMMITTEE, AUDITOR, scope=CITY),
        # 开门评选: run by the committee, read by 审计; the board, the
        # audit chain and the judges' pages are open.
        "selection_publish": committee(),
        "selection_show": public(),
        "selection_nominate": committee(),
        "selection_nominations": allow(COMMITTEE, AUDITOR, scope=CITY),
        "selection_recommendations": allow(COMMITTEE, AUDITOR, scope=CITY),
        "selection_pool": committee(),
        "selection_pool_list": allow(COMMITTEE, AUDITOR, scope=CITY),
        "selection_commit": committee(),
        "selection_draw": committee(),
        "selection_export": public(),
        "selection_reveal": committee(),
        "selection_panel": allow(COMMITTEE, AUDITOR, scope=CITY),
        "selection_absent": committee(),
        "selection_aggregate": committee(),
        "selection_publicity": committee(),
        "selection_objections": allow(COMMITTEE, AUDITOR, scope=CITY),
        "selection_answer": committee(),
        "selection_finalise": committee(),
        "selection_audit": allow(COMMITTEE, AUDITOR, scope=CITY),
        "selection_audit_head": public(),
        "selection_audit_verify": public(),
        "selection_judge_page": public(),
        "selection_judge_form": public(),
        "selection_judge_scores": public(),
    },
    "feedback": {
        # recipients: a signed single-use link is the credential
        "rating_page": public(),
        "rating_form": public(),
        "submit_feedback": public(),
        # the publicity board (公示): anyone reads, objects and recommends
        "publicity_page": public(),
        "publicity_json": public(),
        "objection_form": public(),
        "submit_objection": public(),
        "submit_recommendation": public(),
        "list_objections": committee(),  # objectors' contacts
        "answer_objection": committee(),
        "list_recommendations": committee(),
        # 整改 and 申诉: a unit's staff handle their own unit's (回访, close,
        # appeal a bad review); the committee decides appeals
        "list_rectifications": oversight() | allow(UNIT_STAFF),
        "get_rectification": oversight() | allow(UNIT_STAFF),
        "record_callback": allow(COMMITTEE, SUPERVISOR, scope=CITY)
        | allow(UNIT_STAFF),
        "close_rectification": allow(COMMITTEE, SUPERVISOR, scope=CITY)
        | allow(UNIT_STAFF),
        "file_appeal": committee() | allow(UNIT_STAFF),
        "decide_appeal": committee(),
        "list_appeals": oversight() | allow(UNIT_STAFF),
    },
    "notify": {
        "board": public(),
        "opt_out": public(),  # the opt-out link is the credential
        "list_messages": allow(COMMITTEE, AUDITOR, scope=CITY),
        "get_message": allow(COMMITTEE, AUDITOR, scope=CITY),
        "message_stats": allow(COMMITTEE, OPERATOR, AUDITOR, scope=CITY),
        "skipped": allow(COMMITTEE, OPERATOR, scope=CITY),
        "resend_message": allow(COMMITTEE, OPERATOR, scope=CITY),
        "get_contact": committee(),
        "put_contact": committee(),
        "get_preference": committee(),
        "set_preference": committee(),
    },
    # the console's pages check its own session (a cookie naming the
    # server-side session that holds the person's token) and call the other
    # services with that token, whose policies then apply
    "console": {
        "login_page": public(),
        "login": public(),
        "logout": public(),
        "home": public(),
        "activities": public(),
        "demands": public(),
        "act_on_demand": public(),
    },
    "identity": {
        "login": public(),
        "jwks": public(),
        "me": any_staff(),
        "refresh_token": any_staff(),
        "change_password": any_staff(),
        "list_accounts": allow(COMMITTEE, AUDITOR, scope=CITY),
        "get_account": allow(COMMITTEE, AUDITOR, scope=CITY),
        "create_account": committee(),
        "disable_account": committee(),
        "enable_account": committee(),
        "change_role": committee(),
        "audit": allow(COMMITTEE, AUDITOR, scope=CITY),
        "list_keys": allow(COMMITTEE, OPERATOR, AUDITOR, scope=CITY),
        "rotate_keys": allow(COMMITTEE, OPERATOR, scope=CITY),
        # 统一身份认证 (OIDC): the browser's sign-in and its TOTP step are
        # open; linking an account to its provider user is 工委's
        "oidc_login": public(),
        "oidc_callback": public(),
        "oidc_totp": public(),
        "link_oidc": committee(),
    },
}

POLICY = Policy({
    f"{service}.{route}": rule
    for service, routes in ROUTES.items()
    for route, rule in {**COMMON, **routes}.items()
})
