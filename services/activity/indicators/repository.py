"""Storage of business indicators."""

from pymongo import ASCENDING, IndexModel

from services.activity.storage import Repository

KPIS = "kpis"

INDEXES = {
    KPIS: [IndexModel([("subject_type", ASCENDING), ("subject_id", ASCENDING),
                       ("period", ASCENDING)], name="by_subject")],
}


class IndicatorRepository(Repository):

    def get_kpi(self, key):
        return self.col(KPIS).find_one({"_id": key}, session=self.session)

    def put_kpi(self, doc):
        self.col(KPIS).replace_one({"_id": doc["_id"]}, doc, upsert=True,
                                   session=self.session)
