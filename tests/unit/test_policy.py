"""The one policy table (``sifuwu.policy``) against every service's routes:
a route without a rule fails here, and so does a rule for a route that no
longer exists."""

import pytest

from sifuwu import access
from sifuwu.contract import http_routes
from sifuwu.policy import POLICY
from sifuwu.wiring import SERVICES
from tooling.contract import service_class


def route_names(cls):
    return {f"{cls.name}.{attr}" for attr, _ in http_routes(cls)}


@pytest.mark.parametrize("name", SERVICES)
def test_every_route_of_every_service_has_a_rule(name):
    cls = service_class(name)
    assert POLICY.missing(cls) == []
    assert isinstance(cls.access, access.Access)


def test_every_rule_names_a_route_that_exists():
    routes = set().union(*(route_names(service_class(n)) for n in SERVICES))
    assert routes, "no routes found"
    assert set(POLICY.rules) - routes == set()


def test_the_public_routes_are_the_ones_people_reach_without_an_account():
    public = {name for name, rule in POLICY.rules.items() if rule.public}
    # health and metrics of each service, the recipients' pages, the board,
    # the judges' pages, the audit chain's head, login and the keys
    assert {"feedback.rating_page", "feedback.rating_form",
            "feedback.publicity_page", "assessment.selection_judge_page",
            "assessment.selection_audit_verify", "identity.login",
            "identity.jwks", "notify.opt_out"} <= public
    # nothing that writes staff data or shows personal data
    for closed in ("activity.log_activity", "activity.list_activities",
                   "assessment.member_scorecard", "feedback.list_objections",
                   "notify.list_messages", "notify.get_contact",
                   "identity.create_account", "assessment.selection_draw"):
        assert closed not in public, closed
    systems = {name for name, rule in POLICY.rules.items() if rule.system}
    assert systems == {"activity.ingest_event", "activity.ingest_batch"}


def test_operators_see_no_personal_data():
    """运维 may run the machinery but never reads contacts or messages."""
    for name in ("notify.list_messages", "notify.get_message",
                 "notify.get_contact", "feedback.list_objections",
                 "activity.list_activities", "identity.list_accounts"):
        assert access.OPERATOR not in POLICY.rule(name).roles, name


# What the whole city shares, so any account reads it: the schemes in force
# and the campaigns (万人进万企 and the like).
SHARED = {"assessment.list_schemes", "assessment.get_scheme",
          "activity.list_campaigns", "activity.campaign_progress"}


def test_a_unit_bound_role_is_only_granted_its_own_scope():
    """Unit staff and branch secretaries see the city only where the city
    shares what they read."""
    for name, rule in POLICY.rules.items():
        for role in (access.UNIT_STAFF, access.BRANCH_SECRETARY):
            allowed = (None, access.OWN, access.CITY) if name in SHARED \
                else (None, access.OWN)
            assert rule.scope_for(role) in allowed, name
