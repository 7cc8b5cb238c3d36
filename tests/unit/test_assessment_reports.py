"""Exports, 述职评议 sheets, charts and the scheme schema, as plain
functions."""

import csv
import io
import zipfile

import pytest
from marshmallow import ValidationError
from openpyxl import load_workbook

from services.assessment.ranking import domain as ranking
from services.assessment.scoring import schemes
from services.assessment.scoring import domain as scoring
from services.assessment import schemas
from services.assessment.reports import domain as reports


def board(subject_type="unit"):
    scheme = dict(schemes.default_scheme(), version=3)
    sums = {k: 0 for k in scoring.SUMS}
    sums.update(activity_count=4, rating_count=2, rating_sum=9,
                good_count=2, meeting_attended=3, meeting_expected=3)
    cards = [dict(scoring.scorecard(sums, scheme), subject_id="u1"),
             dict(scoring.scorecard({k: 0 for k in scoring.SUMS}, scheme),
                  subject_id="u2")]
    graded = ranking.apply_quotas(ranking.rank(cards), scheme["bands"],
                                 scheme["quotas"])
    names = {"u1": "市发改委", "u2": "市商务局"}
    return {"period": "2026-11", "subject_type": subject_type,
            "scheme_version": 3, "entries": [
                {"rank": c["rank"], "subject_id": c["subject_id"],
                 "name": names[c["subject_id"]], "total": c["total"],
                 "grade": c["grade"], "band_grade": c["band_grade"],
                 "demoted": c["demoted"],
                 "groups": {g: v["score"] for g, v in c["groups"].items()}}
                for c in graded]}, cards[0]


def test_csv_has_a_bom_header_and_one_row_per_subject():
    data, _ = board()
    text = reports.export_csv([data]).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == reports.EXPORT_HEADER
    assert [r[3] for r in rows[1:]] == ["市发改委", "市商务局"]
    assert rows[1][1] == "机关单位" and rows[1][-1] == "3"


def test_xlsx_sheets_and_cells():
    data, card = board()
    review = {"branch_id": "b1", "branch_name": "发改委第一党支部",
              "secretary_name": "王芳", "period": "2026-11", "card": card,
              "rank": 1, "grade": "良好", "rung_label": "标准化党支部",
              "secretary_card": {"total": 88.5, "grade": "良好"}}
    rates = {"weights": {"response": 30, "resolution": 35,
                         "satisfaction": 35},
             "entries": [{"rank": 1, "subject_id": "u1", "name": "市发改委",
                          "demand_count": 4, "response_rate": 100.0,
                          "resolution_rate": 50.0, "rating_count": 2,
                          "satisfaction_rate": 100.0, "composite": 82.5}]}
    workbook = load_workbook(io.BytesIO(
        reports.export_xlsx([data], rates, [review, dict(review)])))
    assert workbook.sheetnames == ["机关单位考评", "三率排名",
                                   "述职评议-发改委第一党支部",
                                   "述职评议-发改委第一党支部(2)"]
    sheet = workbook["机关单位考评"]
    assert sheet["D2"].value == "市发改委"
    assert sheet["I2"].value == data["entries"][0]["total"]
    assert workbook["三率排名"]["I2"].value == 82.5
    review_sheet = workbook["述职评议-发改委第一党支部"]
    cells = {r[0].value: r[1].value for r in review_sheet.iter_rows()
             if r[0].value}
    assert cells["党支部书记"] == "王芳"
    assert cells["总分"] == card["total"]
    assert cells["书记个人总分"] == 88.5
    labels = [r[1].value for r in review_sheet.iter_rows()
              if r[0].value == "党建工作"]
    assert "三会一课出勤率" in labels


FORMULAS = ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)",
            "\t=1", "\r=1", "=cmd|' /C calc'!A0"]


def hostile_board():
    data, card = board()
    for entry, name in zip(data["entries"], FORMULAS):
        entry["name"] = name
    data["entries"][1]["subject_id"] = "=1+1"
    return data, card


def test_csv_escapes_cells_that_a_spreadsheet_would_run():
    data, _ = hostile_board()
    text = reports.export_csv([data]).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[1][3] == "'" + FORMULAS[0]
    assert rows[2][3] == "'" + FORMULAS[1] and rows[2][2] == "'=1+1"
    for row in rows[1:]:
        for cell in row:
            number = cell[1:].replace(".", "").isdigit()
            assert not cell or cell[0] not in "=+@\t\r" and not (
                cell[0] == "-" and not number), row
    assert rows[1][8] == str(data["entries"][0]["total"])  # numbers stay


@pytest.mark.parametrize("name", FORMULAS)
def test_reports_escape_every_formula_prefix(name):
    assert reports.spreadsheet_text(name) == "'" + name
    assert reports.spreadsheet_text("市发改委") == "市发改委"
    assert reports.spreadsheet_text(-1.5) == -1.5


def test_xlsx_writes_hostile_text_as_strings_not_formulas():
    data, card = hostile_board()
    review = {"branch_id": "b1", "branch_name": "=HYPERLINK(\"http://x\")",
              "secretary_name": "@王芳", "period": "2026-11", "card": card,
              "rank": 1, "grade": "良好", "rung_label": "+标准化",
              "secretary_card": None}
    rates = {"weights": {"response": 30, "resolution": 35,
                         "satisfaction": 35},
             "entries": [{"rank": 1, "subject_id": "u1",
                          "name": '=HYPERLINK("http://x")',
                          "demand_count": 4, "response_rate": 100.0,
                          "resolution_rate": 50.0, "rating_count": 2,
                          "satisfaction_rate": 100.0, "composite": 82.5}]}
    raw = reports.export_xlsx([data], rates, [review])
    workbook = load_workbook(io.BytesIO(raw))
    cells = [cell for sheet in workbook for row in sheet.iter_rows()
             for cell in row if cell.value is not None]
    assert all(cell.data_type != "f" for cell in cells)
    assert '=HYPERLINK("http://x")' in [c.value for c in cells]
    assert workbook["机关单位考评"]["D2"].data_type == "s"
    assert workbook["机关单位考评"]["I2"].data_type == "n"
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for name in archive.namelist():
            assert b"<f>" not in archive.read(name), name


def test_sheet_titles_are_legal_and_unique():
    used = set()
    assert reports.sheet_title("述职评议-a/b:c" + "长" * 40, used) == \
        ("述职评议-a_b_c" + "长" * 40)[:31]
    assert reports.sheet_title("x", used) == "x"
    assert reports.sheet_title("x", used) == "x(2)"


def test_charts_render_png_and_svg_with_chinese_text():
    data, card = board()
    png = reports.ranking_chart(data, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = reports.trend_chart("市发改委", [("2026-10", card),
                                          ("2026-11", None)], "svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
    empty = dict(data, entries=[])
    assert reports.ranking_chart(empty, "png")[:4] == b"\x89PNG"


def test_scheme_schema_reads_grade_criteria_and_defaults():
    body = {key: value for key, value in schemes.default_scheme().items()
            if key not in ("three_rates", "ladder")}
    loaded = schemas.SchemeCreateSchema().load(body)
    assert loaded["three_rates"] == {"response": 30, "resolution": 35,
                                     "satisfaction": 35}
    model = loaded["ladder"][-1]["criteria"]
    assert {"measure": "grade", "in": ["优秀"]} in model
    assert schemes.validate_scheme(loaded) == []
    with pytest.raises(ValidationError) as caught:
        schemas.SchemeCreateSchema().load(dict(body, groups={
            "culture": {"weight": 100, "indicators": []}}))
    assert "groups" in caught.value.messages
