"""Use cases of business indicators, inside the ingest's unit of work
(``uow.repo`` an ``IndicatorRepository``)."""

from sifuwu import events as ev
from services.activity import ownership
from services.activity.indicators import domain


def apply_kpi(uow, envelope, **_):
    """kpi.business: keep the newest value, announce it as kpi.recorded;
    only the source that reported a value first may change it."""
    data = envelope["data"]
    key = domain.kpi_key(data)
    existing = uow.repo.get_kpi(key)
    ownership.check_owner(existing, envelope["source"], f"业务指标 {key}")
    if domain.is_stale(existing, envelope["occurred_at"]):
        return {"kpi_id": key, "applied": False, "reason": "stale"}
    uow.repo.put_kpi(dict(data, _id=key, as_of=envelope["occurred_at"],
                          source=envelope["source"]))
    uow.emit(ev.KPI_RECORDED, dict(data, source=envelope["source"]),
             correlation_id=key)
    return {"kpi_id": key, "applied": True}
