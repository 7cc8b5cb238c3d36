"""Use cases of business indicators, inside the ingest's unit of work
(``uow.repo`` an ``IndicatorRepository``)."""

from sifuwu import events as ev
from services.activity.indicators import domain


def apply_kpi(uow, envelope, **_):
    """kpi.business: keep the newest value, announce it as kpi.recorded."""
    data = envelope["data"]
    key = domain.kpi_key(data)
    if domain.is_stale(uow.repo.get_kpi(key), envelope["occurred_at"]):
        return {"kpi_id": key, "applied": False, "reason": "stale"}
    uow.repo.put_kpi(dict(data, _id=key, as_of=envelope["occurred_at"],
                          source=envelope["source"]))
    uow.emit(ev.KPI_RECORDED, dict(data, source=envelope["source"]),
             correlation_id=key)
    return {"kpi_id": key, "applied": True}
