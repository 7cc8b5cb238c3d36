"""Persistence of open selections (开门评选): collections, indexes, writes.

Every write runs inside a unit of work together with its audit entry, so a
step and its trace are stored together or not at all.
"""

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.assessment.selection import audit
from sifuwu.errors import Conflict, NotFound

CAMPAIGNS = "selection_campaigns"
NOMINATIONS = "selection_nominations"
RECOMMENDATIONS = "selection_recommendations"
EVALUATORS = "selection_evaluators"
PANELS = "selection_panels"
SCORES = "selection_scores"
OBJECTIONS = "selection_objections"
AUDIT = "selection_audit"

SELECTION_INDEXES = {
    CAMPAIGNS: [IndexModel([("status", ASCENDING)], name="by_status")],
    NOMINATIONS: [IndexModel([("campaign_id", ASCENDING),
                              ("candidate_id", ASCENDING)],
                             name="one_nomination", unique=True)],
    RECOMMENDATIONS: [IndexModel([("campaign_id", ASCENDING)],
                                 name="by_campaign")],
    EVALUATORS: [IndexModel([("campaign_id", ASCENDING),
                             ("evaluator_id", ASCENDING)],
                            name="one_evaluator", unique=True)],
    PANELS: [IndexModel([("campaign_id", ASCENDING), ("round", ASCENDING)],
                        name="one_panel", unique=True)],
    SCORES: [IndexModel([("campaign_id", ASCENDING), ("round", ASCENDING),
                         ("evaluator_id", ASCENDING),
                         ("candidate_id", ASCENDING)],
                        name="score_once", unique=True)],
    OBJECTIONS: [IndexModel([("campaign_id", ASCENDING)],
                            name="by_campaign")],
    AUDIT: [IndexModel([("campaign_id", ASCENDING), ("seq", ASCENDING)],
                       name="chain", unique=True)],
}


class ChainContention(Conflict):
    """Another step appended to the same campaign's chain at once."""
    code = "busy"
    message = "评选活动正被同时修改，请重试"


def get_campaign(db, campaign_id, session=None):
    campaign = db[CAMPAIGNS].find_one({"_id": campaign_id}, session=session)
    if campaign is None:
        raise NotFound("未找到该评选活动", code="campaign_not_found")
    return campaign


def record(uow, campaign, kind, data, now, changes=None):
    """Append one audit entry and apply ``changes`` ($set) to the campaign,
    guarded on the chain head the caller read (optimistic concurrency)."""
    head = campaign.get("audit_head")
    entry = audit.make_entry(campaign["_id"], head, kind, data, now)
    try:
        uow.col(AUDIT).insert_one(dict(entry, _id=f"{campaign['_id']}:"
                                                   f"{entry['seq']:08d}"),
                                  session=uow.session)
    except DuplicateKeyError:
        raise ChainContention()
    new_head = {"seq": entry["seq"], "hash": entry["hash"]}
    result = uow.col(CAMPAIGNS).update_one(
        {"_id": campaign["_id"], "audit_head.seq": head["seq"]}
        if head else {"_id": campaign["_id"], "audit_head": None},
        {"$set": dict(changes or {}, audit_head=new_head)},
        session=uow.session)
    if result.matched_count != 1:
        raise ChainContention()
    campaign.update(changes or {})
    campaign["audit_head"] = new_head
    return entry


def insert_campaign(uow, campaign, now):
    uow.col(CAMPAIGNS).insert_one(dict(campaign, audit_head=None),
                                  session=uow.session)
    campaign["audit_head"] = None
    return campaign


def audit_entries(db, campaign_id):
    return list(db[AUDIT].find({"campaign_id": campaign_id},
                               {"_id": 0}).sort("seq", ASCENDING))


def nominations(db, campaign_id, session=None):
    return list(db[NOMINATIONS].find({"campaign_id": campaign_id},
                                     {"_id": 0}, session=session).sort(
        "candidate_id", ASCENDING))


def evaluators(db, campaign_id, session=None):
    return list(db[EVALUATORS].find({"campaign_id": campaign_id},
                                    {"_id": 0}, session=session).sort(
        "evaluator_id", ASCENDING))


def panel(db, campaign_id, round_no, session=None):
    doc = db[PANELS].find_one({"campaign_id": campaign_id, "round": round_no},
                              session=session)
    if doc is None:
        raise NotFound("本轮评选组尚未抽取", code="panel_not_found")
    return doc


def scores(db, campaign_id, round_no, session=None):
    return list(db[SCORES].find({"campaign_id": campaign_id,
                                 "round": round_no}, {"_id": 0},
                                session=session))


def objections(db, campaign_id, session=None):
    return list(db[OBJECTIONS].find({"campaign_id": campaign_id},
                                    {"_id": 0}, session=session))


def recommendations(db, campaign_id):
    return list(db[RECOMMENDATIONS].find({"campaign_id": campaign_id},
                                         {"_id": 0}))


def verify_stored(db, campaign_id):
    """(campaign head, problems) for a campaign in the store."""
    campaign = db[CAMPAIGNS].find_one({"_id": campaign_id})
    if campaign is None:
        return None, [{"seq": 0, "problem": "not_found"}]
    entries = audit_entries(db, campaign_id)
    return campaign.get("audit_head"), audit.verify_chain(
        entries, campaign.get("audit_head"))
