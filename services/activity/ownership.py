"""Who owns an ingested record: the source system that created it. No
other source may change it (its ids are global, so without this rule any
system could rewrite another's members, demands or figures). Staff actions
are not ingest writes and are not bound by it. No nameko, no I/O."""

from sifuwu.errors import Forbidden

NOT_OWNER = "not_owner"


def check_owner(existing, source, what):
    """Refuse (``Forbidden``, code ``not_owner``) a write by ``source`` to
    ``existing``, a stored record (or None), that another source created.
    A record stored without a source has no owner yet."""
    owner = existing.get("source") if existing else None
    if owner and owner != source:
        raise Forbidden(f"{what} 由来源系统 {owner} 报送并维护，"
                        f"{source} 无权修改", code=NOT_OWNER)
