"""Render the sample charts in this folder from a month of sample data,
through the same scoring and chart code the assessment service serves
(``/api/v1/charts/rankings/<period>.png``, ``/api/v1/charts/trend/...``).

    .venv/bin/python docs/charts/make_charts.py
"""

import pathlib
import random

from services.assessment.domain import months_of
from services.assessment.ranking import domain as ranking
from services.assessment.reports import domain as reports
from services.assessment.scoring import domain as scoring
from services.assessment.scoring import schemes

HERE = pathlib.Path(__file__).parent
UNITS = ["市发改委", "市商务局", "市住建局", "市人社局", "市民政局",
         "市交通局", "市卫健委", "市教育局", "市市场监管局", "市生态环境局"]


def sample_sums(rng):
    expected = rng.randint(20, 40)
    demands = rng.randint(8, 30)
    ratings = rng.randint(10, 40)
    good = rng.randint(int(ratings * 0.6), ratings)
    resolved = rng.randint(int(demands * 0.5), demands)
    return {
        "meeting_expected": expected,
        "meeting_attended": rng.randint(int(expected * 0.7), expected),
        "theme_days": 1, "study_sessions": rng.randint(1, 3),
        "kpi_sum": float(rng.randint(70, 100)), "kpi_count": 1,
        "activity_count": rng.randint(1, 6),
        "campaign_activity_count": rng.randint(0, 3),
        "demand_count": demands,
        "demand_responded_on_time": rng.randint(int(demands * 0.8), demands),
        "demand_resolved": resolved,
        "demand_resolved_on_time": rng.randint(int(resolved * 0.7), resolved),
        "rating_count": ratings, "rating_sum": good * 5 + (ratings - good) * 3,
        "good_count": good, "bad_count": rng.randint(0, 2),
        "rectified_count": 0,
    }


def main():
    rng = random.Random(2026)
    scheme = dict(schemes.default_scheme(), version=1)
    cards = []
    for i, name in enumerate(UNITS):
        card = scoring.scorecard(sample_sums(rng), scheme)
        cards.append(dict(card, subject_id=f"u{i}", name=name))
    graded = ranking.apply_quotas(ranking.rank(cards), scheme["bands"],
                                 scheme["quotas"])
    board = {"period": "2026-11", "subject_type": "unit",
             "scheme_version": 1, "entries": graded}
    (HERE / "ranking-units-2026-11.png").write_bytes(
        reports.ranking_chart(board, "png"))
    series = []
    for month in months_of("2026")[:11]:
        series.append((month, scoring.scorecard(sample_sums(rng), scheme)))
    series.append(("2026-12", None))
    (HERE / "trend-unit-2026.png").write_bytes(
        reports.trend_chart("市发改委", series, "png"))


if __name__ == "__main__":
    main()
