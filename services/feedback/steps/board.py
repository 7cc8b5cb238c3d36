"""The public board (公示栏) and objections (异议): the board keeps a copy
of each publicity list assessment opens; anyone may object while a list is
open, with sealed contact details; answers show on the board, never the
objector."""

from sifuwu import events as ev
from sifuwu.errors import Conflict, NotFound
from sifuwu.privacy import Sealer, contact, contact_hash
from services.feedback import domain


def save_publicity(uow, data, now):
    """Keep the board's copy of a publicity list (read model)."""
    publicity = {
        "_id": data["campaign_id"],
        "title": data["title"],
        "starts_on": data["starts_on"].isoformat(),
        "ends_on": data["ends_on"].isoformat(),
        "candidates": data["candidates"],
        "received_at": now,
    }
    uow.repo.save_publicity(publicity)
    return publicity


def board(uow, today):
    """Publicity lists started and still open or ended within the last 30
    days, each with its answered objections (the answer, never the
    objector)."""
    today_text = today.isoformat()
    lists = [p for p in uow.repo.publicity_ending_since(
        domain.board_since(today)) if domain.on_board(p, today_text)]
    for publicity in lists:
        publicity["open"] = domain.publicity_is_open(publicity, today_text)
        names = {c["candidate_id"]: c["name"] for c in publicity["candidates"]}
        publicity["answers"] = [
            {"ref": o["ref"], "candidate_id": o["candidate_id"],
             "candidate_name": names.get(o["candidate_id"], ""),
             "substantiated": o["substantiated"], "answer": o["answer"],
             "answered_at": o["answered_at"]}
            for o in uow.repo.objections_in(publicity["_id"],
                                            domain.OBJECTION_ANSWERED)]
    return lists


def file_objection(uow, data, now, *, secret, today, sealer=None):
    """异议 while the publicity is open: kept with sealed contact details;
    one per person and candidate."""
    publicity = uow.repo.publicity(data["campaign_id"])
    domain.check_objection(publicity, data["candidate_id"], today.isoformat())
    sealer = sealer or Sealer(secret)
    objection_id = ev.new_id()
    objection = {
        "_id": objection_id,
        "ref": domain.short_ref(objection_id),
        "campaign_id": data["campaign_id"],
        "candidate_id": data["candidate_id"],
        "reason": data["reason"].strip(),
        "objector_name_enc": (sealer.seal(data["name"].strip())
                              if (data.get("name") or "").strip() else None),
        "objector_phone_enc": sealer.seal(data["phone"]),
        "contact_hash": contact_hash(secret, data["phone"]),
        "status": domain.OBJECTION_FILED,
        "substantiated": None,
        "answer": None,
        "filed_at": now,
        "answered_at": None,
    }
    if not uow.repo.insert_objection(objection):
        raise Conflict("您已对该公示对象提出过异议，请等待答复",
                       code="already_objected")
    uow.emit(ev.OBJECTION_FILED, {
        "objection_id": objection_id,
        "campaign_id": objection["campaign_id"],
        "candidate_id": objection["candidate_id"],
        "reason": objection["reason"],
    }, correlation_id=objection["campaign_id"])
    return objection


def answer_objection(uow, objection_id, substantiated, answer, now, *, by,
                     secret=None, sealer=None):
    """Staff answer an objection once; the answer is announced (notify
    sends it to the objector, assessment records the ruling)."""
    objection = uow.repo.answer_objection(
        objection_id, domain.OBJECTION_FILED, {
            "status": domain.OBJECTION_ANSWERED,
            "substantiated": substantiated, "answer": answer,
            "answered_by": by, "answered_at": now})
    if objection is None:
        if uow.repo.objection(objection_id) is None:
            raise NotFound("未找到该异议")
        raise Conflict("该异议已答复", code="already_answered")
    _announce(uow, objection, substantiated, answer, secret, sealer)
    return objection


def _objector(objection, secret, sealer):
    """The objector as ``objection.answered`` carries them: the phone
    sealed (``sifuwu.privacy.contact``), for notify alone to open."""
    if not secret:
        return None
    sealer = sealer or Sealer(secret)
    found = domain.objector_contact(objection, secret, sealer)
    return dict(found, phone=contact(found["phone"], keys=sealer,
                                     secret=secret))


def _announce(uow, objection, substantiated, answer, secret, sealer=None):
    """``objection.answered``: feedback is its one publisher."""
    uow.emit(ev.OBJECTION_ANSWERED, {
        "objection_id": objection["_id"],
        "campaign_id": objection["campaign_id"],
        "candidate_id": objection["candidate_id"],
        "substantiated": substantiated,
        "answer": answer,
        # only notify reads it, to send the answer to the objector (答复异议人)
        "objector": _objector(objection, secret, sealer),
    }, correlation_id=objection["campaign_id"])


def record_decision(uow, data, now, secret=None, sealer=None):
    """A ruling given by assessment's staff (``objection.decided``): shown on
    the board and announced as the answer. An objection already answered here
    (the ruling came from this answer) or unknown here changes nothing."""
    objection = uow.repo.answer_objection(
        data["objection_id"], domain.OBJECTION_FILED, {
            "status": domain.OBJECTION_ANSWERED,
            "substantiated": data["substantiated"],
            "answer": data["answer"], "answered_by": "assessment",
            "answered_at": now})
    if objection is not None:
        _announce(uow, objection, data["substantiated"], data["answer"],
                  secret, sealer)
    return objection


def list_objections(uow, filters):
    return uow.repo.list_objections(filters)
