"""The feedback steps against an in-memory unit of work and a dict-backed
repository: each rule is checked without the store."""

import datetime as dt
import inspect
from zoneinfo import ZoneInfo

import pytest
from itsdangerous import URLSafeSerializer

from sifuwu import events as ev
from sifuwu.errors import Conflict, Forbidden, NotFound
from sifuwu.privacy import Sealer, contact, contact_hash, open_contact
from sifuwu.workdays import CALENDAR
from services.feedback import domain
from services.feedback.repository import FeedbackRepository
from services.feedback.steps import (
    appeals, board, invitations, ratings, rectifications,
)
from tests.fakes.feedback import FakeFeedbackRepository
from tests.fakes.uow import InMemoryUnitOfWork

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECRET = "test-secret"
LINKS = {"secret": SECRET,
         "signer": URLSafeSerializer(SECRET, salt="feedback-invitation"),
         "base_url": "http://feedback.test"}
# Wednesday 30 September 2026, the eve of the National Day week
EVE = dt.datetime(2026, 9, 30, 15, tzinfo=SHANGHAI)
CONTACT = {"name": "张三", "phone": "13912340000"}
SUBJECT = {"member_id": "m-1", "member_name": "王芳", "unit_id": "u-fgw",
           "branch_id": "b-1", "category": "enterprise"}


@pytest.fixture
def uow():
    return InMemoryUnitOfWork(repo=FakeFeedbackRepository(),
                              service_name="feedback")


def invite(uow, now=EVE, subject_id="a-1"):
    return uow.run(invitations.invite, subject_type=domain.SUBJECT_ACTIVITY,
                   subject_id=subject_id, contact=CONTACT, subject=SUBJECT,
                   now=now, **LINKS)


def rate(uow, invitation_id, level, now=EVE, **data):
    """A rating as the entrypoint writes it: the claim read, then the step."""
    outcomes, valid = ratings.claim_invitations(
        uow, [(invitation_id, {"rating": level, **data})], now)
    if outcomes[0] is not None:
        raise outcomes[0]
    [(_, invitation, claimed)] = valid
    [rating] = uow.run(ratings.submit_ratings, [(invitation, claimed)], now,
                       tz=SHANGHAI, calendar=CALENDAR)
    return rating


def test_the_fake_repository_has_the_real_ones_methods():
    def methods(cls):
        return {name for name, _ in inspect.getmembers(cls, inspect.isfunction)
                if not name.startswith("_")}
    assert methods(FakeFeedbackRepository) == methods(FeedbackRepository)


# -- invitations and ratings ----------------------------------------------------

def test_one_invitation_per_subject(uow):
    first = invite(uow)
    assert first["status"] == domain.ISSUED
    assert CONTACT["phone"] not in repr(first)  # sealed
    assert invite(uow) is None
    [issued] = uow.emitted
    assert issued["type"] == ev.INVITATION_ISSUED
    token = issued["data"]["link"].rsplit("/", 1)[1]
    assert LINKS["signer"].loads(token) == first["_id"]


def test_an_invitation_keeps_and_passes_on_the_sealed_contact_it_was_given(uow):
    keys = Sealer(SECRET)
    sealed = contact(CONTACT["phone"], keys=keys, secret=SECRET)
    first = uow.run(invitations.invite, subject_type=domain.SUBJECT_ACTIVITY,
                    subject_id="a-9", contact=dict(CONTACT, phone=sealed),
                    subject=SUBJECT, now=EVE, sealer=keys, **LINKS)
    assert first["recipient_phone_enc"] == sealed["sealed"]
    assert first["recipient_hash"] == sealed["ref"]
    [issued] = uow.emitted
    assert issued["data"]["recipient"]["phone"] == sealed
    assert CONTACT["phone"] not in repr(issued)


def test_an_invitation_from_an_old_clear_event_seals_the_phone(uow):
    invite(uow)   # CONTACT's phone in clear, as events carried it before
    [issued] = uow.emitted
    phone = issued["data"]["recipient"]["phone"]
    assert CONTACT["phone"] not in repr(issued)
    assert phone["ref"] == contact_hash(SECRET, CONTACT["phone"])
    assert open_contact(phone, Sealer(SECRET)) == CONTACT["phone"]


def test_a_rating_uses_its_link_once(uow):
    invitation = invite(uow)
    rating = rate(uow, invitation["_id"], 5, comment=" 很好 ")
    assert rating["rating"] == 5 and not rating["bad"]
    assert rating["comment"] == "很好" and rating["rectification_id"] is None
    stored = uow.repo.invitation(invitation["_id"])
    assert stored["status"] == domain.USED and stored["used_at"] == EVE
    assert uow.repo.rating(rating["_id"])["member_id"] == "m-1"
    assert uow.types() == [ev.INVITATION_ISSUED, ev.FEEDBACK_SUBMITTED]
    submitted = uow.emitted[-1]
    assert submitted["correlation_id"] == "a-1"
    assert submitted["data"]["rating_id"] == rating["_id"]

    with pytest.raises(Conflict) as again:
        rate(uow, invitation["_id"], 1)
    assert again.value.code == "already_rated"
    assert uow.types() == [ev.INVITATION_ISSUED, ev.FEEDBACK_SUBMITTED]


def test_a_link_claimed_twice_in_one_batch_or_unknown_is_refused(uow):
    invitation = invite(uow)
    outcomes, valid = ratings.claim_invitations(uow, [
        (invitation["_id"], {"rating": 5}), (invitation["_id"], {"rating": 4}),
        ("nope", {"rating": 5})], EVE)
    assert outcomes[0] is None and [v[0] for v in valid] == [0]
    assert outcomes[1].code == "already_rated"
    assert isinstance(outcomes[2], NotFound)
    late = EVE + dt.timedelta(days=domain.INVITATION_DAYS)
    outcomes, valid = ratings.claim_invitations(
        uow, [(invitation["_id"], {"rating": 5})], late)
    assert outcomes[0].code == "link_expired" and valid == []


def test_a_rating_stored_meanwhile_refuses_the_whole_unit_of_work(uow):
    invitation = invite(uow)
    uow.repo.insert_ratings([{"_id": "elsewhere",
                              "invitation_id": invitation["_id"]}])
    before = list(uow.emitted)
    with pytest.raises(Conflict) as refused:
        uow.run(ratings.submit_ratings, [(invitation, {"rating": 4})], EVE,
                tz=SHANGHAI, calendar=CALENDAR)
    assert refused.value.code == "already_rated"
    assert uow.emitted == before  # nothing announced


def test_a_recommendation_with_the_rating(uow):
    invitation = invite(uow)
    rating = rate(uow, invitation["_id"], 5, recommend=True,
                  recommend_reason=" 主动上门 ")
    assert rating["recommendation_id"]
    assert uow.types()[-2:] == [ev.RECOMMENDATION_SUBMITTED,
                                ev.FEEDBACK_SUBMITTED]
    assert uow.emitted[-2]["data"]["reason"] == "主动上门"


# -- bad reviews and rectifications --------------------------------------------------

def test_a_bad_review_opens_a_rectification_due_after_the_holidays(uow):
    invitation = invite(uow)
    rating = rate(uow, invitation["_id"], 2, comment="无人回复")
    assert rating["bad"]
    rect = uow.repo.rectification(rating["rectification_id"])
    assert rect["status"] == domain.RECT_OPEN and rect["unit_id"] == "u-fgw"
    # 1-7 October are holidays: one working day after 30 September is 8 October
    assert rect["callback_by"] == dt.datetime(2026, 10, 8, 15,
                                              tzinfo=SHANGHAI)
    assert rect["fix_by"] == EVE + dt.timedelta(days=domain.FIX_DAYS)
    assert uow.types()[-2:] == [ev.RECTIFICATION_OPENED, ev.FEEDBACK_SUBMITTED]
    opened = uow.emitted[-2]["data"]
    assert opened["rectification_id"] == rect["_id"]
    assert opened["callback_by"] == rect["callback_by"].isoformat()


def open_case(uow):
    invitation = invite(uow)
    return rate(uow, invitation["_id"], 1)


def test_rectification_moves_are_refused_from_a_wrong_state(uow):
    rect_id = open_case(uow)["rectification_id"]
    with pytest.raises(Conflict) as early:
        uow.run(rectifications.close_rectification, rect_id, "已处理", EVE,
                by="staff", **LINKS)
    assert early.value.code == "invalid_transition"
    assert "待回访" in early.value.message and "已整改" in early.value.message

    called = uow.run(rectifications.record_callback, rect_id, "已回访", EVE,
                     by="staff")
    assert called["status"] == domain.RECT_CALLED_BACK
    assert [h["status"] for h in called["history"]] == [
        domain.RECT_OPEN, domain.RECT_CALLED_BACK]
    with pytest.raises(Conflict):
        uow.run(rectifications.record_callback, rect_id, "再回访", EVE,
                by="staff")

    closed = uow.run(rectifications.close_rectification, rect_id, "已解决",
                     EVE, by="staff", **LINKS)
    assert closed["status"] == domain.RECT_CLOSED
    assert uow.types()[-2:] == [ev.RECTIFICATION_CLOSED, ev.INVITATION_ISSUED]
    fix_invite = uow.emitted[-1]["data"]
    assert fix_invite["subject_type"] == domain.SUBJECT_RECTIFICATION
    # the phone travels sealed: notify alone opens it
    assert CONTACT["phone"] not in repr(fix_invite)
    assert open_contact(fix_invite["recipient"]["phone"],
                        Sealer(SECRET)) == CONTACT["phone"]
    with pytest.raises(Conflict):
        uow.run(rectifications.record_callback, rect_id, "关闭后回访", EVE,
                by="staff")
    with pytest.raises(NotFound):
        uow.run(rectifications.record_callback, "nope", "回访", EVE,
                by="staff")


def test_overdue_deadlines_are_announced_once(uow):
    rect_id = open_case(uow)["rectification_id"]
    late = EVE + dt.timedelta(days=16)
    assert rectifications.overdue_candidates(uow, EVE) == []
    assert rectifications.overdue_candidates(uow, late) == [rect_id]
    assert uow.run(rectifications.flag_overdue, rect_id, late) == [
        "callback", "fix"]
    levels = [e["data"]["level"] for e in uow.emitted
              if e["type"] == ev.RECTIFICATION_OVERDUE]
    assert levels == [1, 3]
    assert uow.run(rectifications.flag_overdue, rect_id, late) == []
    assert rectifications.overdue_candidates(uow, late) == []


# -- appeals ----------------------------------------------------------------------

def test_only_a_bad_review_can_be_appealed_once(uow):
    good = rate(uow, invite(uow, subject_id="a-good")["_id"], 4)
    with pytest.raises(Conflict) as refused:
        uow.run(appeals.file_appeal, good["_id"], "我们认为评价有误", EVE,
                by="unit")
    assert refused.value.code == "not_a_bad_review"
    with pytest.raises(NotFound):
        uow.run(appeals.file_appeal, "nope", "我们认为评价有误", EVE, by="unit")
    bad = open_case(uow)
    appeal = uow.run(appeals.file_appeal, bad["_id"], "系误评", EVE, by="unit")
    assert appeal["status"] == domain.APPEAL_PENDING
    assert appeal["rectification_id"] == bad["rectification_id"]
    with pytest.raises(Conflict) as twice:
        uow.run(appeals.file_appeal, bad["_id"], "再申诉", EVE, by="unit")
    assert twice.value.code == "already_appealed"


def test_the_filer_may_not_decide_their_own_appeal(uow):
    bad = open_case(uow)
    appeal = uow.run(appeals.file_appeal, bad["_id"], "系误评", EVE, by="unit")
    before = list(uow.emitted)
    with pytest.raises(Forbidden):
        uow.run(appeals.decide_appeal, appeal["_id"], True, "自己裁决", EVE,
                by="unit")
    assert uow.emitted == before
    assert uow.repo.appeal(appeal["_id"])["status"] == domain.APPEAL_PENDING

    decided = uow.run(appeals.decide_appeal, appeal["_id"], True,
                      "评价人并非服务对象", EVE, by="staff")
    assert decided["status"] == domain.APPEAL_UPHELD
    assert decided["decided_by"] == "staff"
    assert uow.repo.rating(bad["_id"])["excluded"] is True
    rect = uow.repo.rectification(bad["rectification_id"])
    assert rect["status"] == domain.RECT_VOID
    assert rect["outcome"] == "申诉成立：评价人并非服务对象"
    assert uow.types()[-2:] == [ev.RECTIFICATION_CLOSED, ev.APPEAL_DECIDED]
    assert uow.emitted[-1]["data"]["upheld"] is True
    with pytest.raises(Conflict) as again:
        uow.run(appeals.decide_appeal, appeal["_id"], False, "改判", EVE,
                by="staff")
    assert again.value.code == "already_decided"


def test_a_rejected_appeal_keeps_the_review_and_its_case(uow):
    bad = open_case(uow)
    appeal = uow.run(appeals.file_appeal, bad["_id"], "不客观", EVE, by="unit")
    uow.run(appeals.decide_appeal, appeal["_id"], False, "评价属实", EVE,
            by="staff")
    assert uow.repo.rating(bad["_id"])["excluded"] is False
    assert uow.repo.rectification(bad["rectification_id"])["status"] == \
        domain.RECT_OPEN
    assert uow.types()[-1] == ev.APPEAL_DECIDED


# -- default ratings -------------------------------------------------------------

def test_a_default_rating_is_due_only_after_the_holiday_week(uow):
    invitation = invite(uow)
    on_the_8th = dt.datetime(2026, 10, 8, 16, tzinfo=SHANGHAI)
    on_the_9th = dt.datetime(2026, 10, 9, 15, tzinfo=SHANGHAI)
    assert ratings.due_default_ratings(uow, on_the_8th, 2) == [
        invitation["_id"]]  # the store's filter: calendar days only
    assert uow.run(ratings.apply_default_rating, invitation["_id"],
                   on_the_8th, 2, tz=SHANGHAI, calendar=CALENDAR) is None
    rating = uow.run(ratings.apply_default_rating, invitation["_id"],
                     on_the_9th, 2, tz=SHANGHAI, calendar=CALENDAR)
    assert rating["rating"] == domain.DEFAULT_LEVEL and rating["defaulted"]
    assert uow.repo.invitation(invitation["_id"])["defaulted"] is True
    assert uow.emitted[-1]["data"]["defaulted"] is True
    assert uow.run(ratings.apply_default_rating, invitation["_id"],
                   on_the_9th, 2, tz=SHANGHAI, calendar=CALENDAR) is None


# -- the board and objections --------------------------------------------------------

def publicity(uow, starts_on, ends_on, campaign_id="c-1"):
    return uow.run(board.save_publicity, {
        "campaign_id": campaign_id, "title": "拟表彰名单",
        "starts_on": starts_on, "ends_on": ends_on,
        "candidates": [{"candidate_id": "m-101", "name": "王芳"}]}, EVE)


OBJECTION = {"campaign_id": "c-1", "candidate_id": "m-101",
             "reason": "曾被群众投诉，请核实。", "name": "赵六",
             "phone": "13788889999"}


def test_an_objection_only_while_the_publicity_is_open(uow):
    publicity(uow, dt.date(2026, 11, 20), dt.date(2026, 11, 26))
    for today in (dt.date(2026, 11, 19), dt.date(2026, 11, 27)):
        with pytest.raises(Conflict) as closed:
            uow.run(board.file_objection, OBJECTION, EVE, secret=SECRET,
                    today=today)
        assert closed.value.code == "publicity_closed"
    with pytest.raises(NotFound) as unknown:
        uow.run(board.file_objection, {**OBJECTION, "candidate_id": "m-999"},
                EVE, secret=SECRET, today=dt.date(2026, 11, 26))
    assert unknown.value.code == "unknown_candidate"
    with pytest.raises(NotFound):
        uow.run(board.file_objection, {**OBJECTION, "campaign_id": "c-x"},
                EVE, secret=SECRET, today=dt.date(2026, 11, 26))
    assert uow.types() == []

    filed = uow.run(board.file_objection, OBJECTION, EVE, secret=SECRET,
                    today=dt.date(2026, 11, 26))
    assert filed["status"] == domain.OBJECTION_FILED
    assert "13788889999" not in repr(filed) and "赵六" not in repr(filed)
    assert uow.types() == [ev.OBJECTION_FILED]
    with pytest.raises(Conflict) as twice:
        uow.run(board.file_objection, OBJECTION, EVE, secret=SECRET,
                today=dt.date(2026, 11, 26))
    assert twice.value.code == "already_objected"


def test_an_answer_is_given_once_and_shown_on_the_board(uow):
    publicity(uow, dt.date(2026, 11, 20), dt.date(2026, 11, 26))
    filed = uow.run(board.file_objection, OBJECTION, EVE, secret=SECRET,
                    today=dt.date(2026, 11, 20))
    answered = uow.run(board.answer_objection, filed["_id"], False,
                       "经核实，不影响表彰。", EVE, by="staff", secret=SECRET)
    assert answered["status"] == domain.OBJECTION_ANSWERED
    objector = uow.emitted[-1]["data"]["objector"]
    assert "13788889999" not in repr(objector)
    assert objector["phone"]["masked"] == "137****9999"
    assert open_contact(objector["phone"], Sealer(SECRET)) == "13788889999"
    with pytest.raises(Conflict) as again:
        uow.run(board.answer_objection, filed["_id"], True, "再答复", EVE,
                by="staff")
    assert again.value.code == "already_answered"
    with pytest.raises(NotFound):
        uow.run(board.answer_objection, "nope", True, "答复", EVE, by="staff")
    [shown] = board.board(uow, dt.date(2026, 11, 21))
    assert shown["open"] and shown["answers"][0]["candidate_name"] == "王芳"
    assert shown["answers"][0]["answer"] == "经核实，不影响表彰。"
    assert board.board(uow, dt.date(2026, 11, 19)) == []  # not started
    [ended] = board.board(uow, dt.date(2026, 12, 20))
    assert not ended["open"]
    assert board.board(uow, dt.date(2026, 12, 27)) == []  # over 30 days ago


def test_a_ruling_from_assessment_is_shown_and_announced_once(uow):
    publicity(uow, dt.date(2026, 11, 20), dt.date(2026, 11, 26))
    filed = uow.run(board.file_objection, OBJECTION, EVE, secret=SECRET,
                    today=dt.date(2026, 11, 20))
    recorded = uow.run(board.record_decision, {
        "objection_id": filed["_id"], "substantiated": False,
        "answer": "异议不成立。"}, EVE, secret=SECRET)
    assert recorded["answered_by"] == "assessment"
    # feedback is the one publisher of objection.answered, with the contact
    assert uow.types() == [ev.OBJECTION_FILED, ev.OBJECTION_ANSWERED]
    assert uow.emitted[-1]["data"]["objector"] is not None
    # the same objection ruled again (or its own answer coming back): nothing
    assert uow.run(board.record_decision, {
        "objection_id": filed["_id"], "substantiated": True,
        "answer": "again"}, EVE, secret=SECRET) is None
    assert uow.types() == [ev.OBJECTION_FILED, ev.OBJECTION_ANSWERED]
