"""Invitations to rate (评价邀请): one per subject (一事一评)."""

from sifuwu import events as ev
from sifuwu.privacy import Sealer, contact as sealed_contact
from services.feedback import domain


def invite(uow, *, subject_type, subject_id, contact, subject, secret,
           signer, base_url, now, days=domain.INVITATION_DAYS,
           correlation_id=None, sealer=None):
    """Invite the person in ``contact`` ({name, phone}) to rate one subject;
    the phone is a sealed contact (``sifuwu.privacy.contact``) or, as events
    carried it before, a clear string.
    ``subject`` carries member_id, member_name, unit_id, branch_id,
    category. Returns None when the subject already has an invitation."""
    [invitation] = invite_many(
        uow, [{"subject_type": subject_type, "subject_id": subject_id,
               "contact": contact, "subject": subject,
               "correlation_id": correlation_id}],
        secret=secret, signer=signer, base_url=base_url, now=now, days=days,
        sealer=sealer)
    return invitation


def invite_many(uow, wanted, *, secret, signer, base_url, now,
                days=domain.INVITATION_DAYS, sealer=None):
    """Batch form of ``invite``: ``wanted`` is a list of {subject_type,
    subject_id, contact, subject, correlation_id}. Three statements whatever
    the size: one read of the subjects already invited, one insert, and the
    events go out with the outbox. Returns one invitation per entry, None
    where the subject already has one (stored or earlier in ``wanted``)."""
    invited = uow.repo.invited_subjects(
        {item["subject_id"] for item in wanted})
    sealer = sealer or Sealer(secret)
    expires_at = domain.invitation_expiry(now, days)
    issued, new = [], []
    for item in wanted:
        subject_id = item["subject_id"]
        if subject_id in invited:
            issued.append(None)
            continue
        invited.add(subject_id)
        contact, subject = item["contact"], item["subject"]
        # kept and passed on sealed: the event's token as it came
        phone = sealed_contact(contact["phone"], keys=sealer, secret=secret)
        invitation = {
            "_id": ev.new_id(),
            "subject_type": item["subject_type"],
            "subject_id": subject_id,
            "member_id": subject.get("member_id"),
            "member_name": subject.get("member_name"),
            "unit_id": subject.get("unit_id"),
            "branch_id": subject.get("branch_id"),
            "category": subject.get("category"),
            "recipient_name_enc": (sealer.seal(contact["name"])
                                   if contact.get("name") else None),
            "recipient_phone_enc": phone["sealed"],
            "recipient_hash": phone["ref"],
            "status": domain.ISSUED,
            "issued_at": now,
            "expires_at": expires_at,
        }
        new.append(invitation)
        issued.append(invitation)
        token = signer.dumps(invitation["_id"])
        uow.emit(ev.INVITATION_ISSUED, {
            "invitation_id": invitation["_id"],
            "subject_type": invitation["subject_type"],
            "subject_id": subject_id,
            "link": f"{base_url}/f/{token}",
            # The phone travels sealed, for notify alone to open and
            # deliver the link.
            "recipient": {"name": contact.get("name"), "phone": phone},
            "member_name": subject.get("member_name"),
            "expires_at": expires_at.isoformat(),
        }, correlation_id=item.get("correlation_id") or subject_id)
    if new:
        uow.repo.insert_invitations(new)
    return issued


def open_invitation(uow, invitation_id, now):
    """The invitation a rating page shows, if it can still be rated."""
    return domain.check_open_invitation(uow.repo.invitation(invitation_id),
                                        now)
