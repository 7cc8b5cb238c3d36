"""Results that are used (考核结果运用): CSV/XLSX exports, the 述职评议 sheet
per branch secretary, ranking and trend charts. Plain functions from data
to bytes; no nameko, no store."""

import csv
import io
import os
import re

from services.assessment import domain

CJK_FONT = "WenQuanYi Micro Hei"
CJK_FONT_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",)

GRADE_COLOURS = {"优秀": "#c0392b", "良好": "#e67e22", "一般": "#2980b9",
                 "较差": "#7f8c8d"}

EXPORT_HEADER = ["排名", "对象类型", "编号", "名称", "党建工作", "业务工作",
                 "四服务工作", "服务对象满意度", "总分", "分数段等次", "等次",
                 "名额顺延", "考评期间", "方案版本"]


# A text cell a spreadsheet program would run as a formula (or DDE) when it
# begins with one of these; names and ids come from outside systems.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value):
    """``value`` with a leading ``'`` when it is text a spreadsheet would
    run as a formula; numbers and other text unchanged (CSV)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def append_row(sheet, row):
    """Append ``row`` to an openpyxl sheet with every text cell stored as a
    string, never a formula (openpyxl takes text starting "=" as one)."""
    sheet.append(row)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def export_rows(board):
    """Rows of a ranking board for promotion and training decisions."""
    label = domain.SUBJECT_LABELS.get(board["subject_type"],
                                      board["subject_type"])
    for e in board["entries"]:
        yield [e["rank"], label, e["subject_id"], e["name"],
               *(e["groups"].get(g) for g in domain.GROUPS),
               e["total"], e["band_grade"], e["grade"],
               "是" if e["demoted"] else "否", board["period"],
               board["scheme_version"]]


def export_csv(boards):
    """CSV (UTF-8 with BOM so spreadsheet programs read the Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_HEADER)
    for board in boards:
        writer.writerows([spreadsheet_text(cell) for cell in row]
                         for row in export_rows(board))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


SHEET_TITLES = {"member": "党员考评", "branch": "党支部考评",
                "unit": "机关单位考评"}


def sheet_title(text, used):
    title = re.sub(r"[\[\]:*?/\\]", "_", text)[:31]
    base, n = title, 2
    while title in used:
        suffix = f"({n})"
        title = base[:31 - len(suffix)] + suffix
        n += 1
    used.add(title)
    return title


def export_xlsx(boards, rates=None, reviews=()):
    """One workbook: a sheet per subject type, the three rates (a month),
    and one 述职评议 sheet per branch secretary."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    used = set()
    bold = Font(bold=True)
    for board in boards:
        sheet = workbook.create_sheet(sheet_title(
            SHEET_TITLES[board["subject_type"]], used))
        append_row(sheet, EXPORT_HEADER)
        for row in export_rows(board):
            append_row(sheet, row)
        for cell in sheet[1]:
            cell.font = bold
    if rates is not None:
        sheet = workbook.create_sheet(sheet_title("三率排名", used))
        append_row(sheet, ["排名", "单位编号", "单位名称", "诉求数", "响应率(%)",
                      "解决率(%)", "评价数", "满意率(%)", "综合得分"])
        for e in rates["entries"]:
            append_row(sheet, [e["rank"], e["subject_id"], e["name"],
                          e["demand_count"], e["response_rate"],
                          e["resolution_rate"], e["rating_count"],
                          e["satisfaction_rate"], e["composite"]])
        sheet.append([])
        append_row(sheet, ["权重", "响应率", rates["weights"]["response"],
                      "解决率", rates["weights"]["resolution"], "满意率",
                      rates["weights"]["satisfaction"]])
        for cell in sheet[1]:
            cell.font = bold
    for review in reviews:
        sheet = workbook.create_sheet(sheet_title(
            f"述职评议-{review['branch_name']}", used))
        write_review(sheet, review, bold)
    return save(workbook)


def save(workbook):
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_review(sheet, review, bold):
    """述职评议 sheet: the branch's Party-building and business results
    side by side, for the secretary's 一岗双责 report."""
    card = review["card"]
    append_row(sheet, ["党支部书记述职评议表"])
    sheet["A1"].font = bold
    append_row(sheet, ["党支部", review["branch_name"]])
    append_row(sheet, ["党支部书记", review["secretary_name"]])
    append_row(sheet, ["考评期间", review["period"]])
    append_row(sheet, ["方案版本", card.get("scheme_version")])
    append_row(sheet, ["支部阶梯", review.get("rung_label")])
    sheet.append([])
    append_row(sheet, ["指标组", "指标", "数值", "权重(%)", "得分"])
    for cell in sheet[sheet.max_row]:
        cell.font = bold
    for group in domain.GROUPS:
        info = card["groups"][group]
        append_row(sheet, [info["label"], "（组得分）", None, info["weight"],
                      info["score"]])
        for ind in info["indicators"]:
            append_row(sheet, [info["label"], ind["label"], ind["value"],
                          ind["weight"], ind["score"]])
    for item in card.get("items", []):
        append_row(sheet, ["加减分", item.get("label") or item["code"], None,
                           None, item["points"]])
    sheet.append([])
    append_row(sheet, ["总分", card["total"]])
    append_row(sheet, ["等次", review.get("grade") or card.get("grade")])
    append_row(sheet, ["支部排名", review.get("rank")])
    if review.get("secretary_card"):
        append_row(sheet, ["书记个人总分", review["secretary_card"]["total"]])
        append_row(sheet, ["书记个人等次", review["secretary_card"]["grade"]])
    append_row(sheet, ["评议意见", ""])
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 24


# -- charts ------------------------------------------------------------------

_FONT_READY = False


def _matplotlib():
    """matplotlib on the Agg backend with a CJK font for Chinese labels."""
    global _FONT_READY
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import font_manager
    if not _FONT_READY:
        for path in CJK_FONT_FILES:
            if os.path.exists(path):
                font_manager.fontManager.addfont(path)
        matplotlib.rcParams["font.sans-serif"] = [
            CJK_FONT, "Noto Sans CJK SC", "DejaVu Sans"]
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["axes.unicode_minus"] = False
        matplotlib.rcParams["svg.hashsalt"] = "sifuwu"
        _FONT_READY = True
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    return Figure, FigureCanvasAgg


def _render(figure, canvas_cls, fmt):
    canvas_cls(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=110, bbox_inches="tight",
                   metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()


def ranking_chart(board, fmt="png", limit=20):
    """Horizontal bars of a ranking, coloured by grade."""
    Figure, Canvas = _matplotlib()
    entries = board["entries"][:limit]
    value_key = "composite" if board["subject_type"] == "three_rates" \
        else "total"
    labels = [f"{e['rank']}. {e['name']}" for e in entries][::-1]
    values = [e.get(value_key) or 0 for e in entries][::-1]
    colours = [GRADE_COLOURS.get(e.get("grade"), "#c0392b")
               for e in entries][::-1]
    notes = [f"（{e['band_grade']}档，名额顺延）" if e.get("demoted") else ""
             for e in entries][::-1]
    figure = Figure(figsize=(7, 1.2 + 0.42 * max(len(entries), 1)))
    axes = figure.add_subplot(1, 1, 1)
    bars = axes.barh(labels, values, color=colours)
    for bar, value, note in zip(bars, values, notes):
        axes.text(bar.get_width() + 0.8, bar.get_y() + bar.get_height() / 2,
                  f"{value:.2f}{note}", va="center", fontsize=9)
    axes.set_xlim(0, 125 if any(notes) else 110)
    if board["subject_type"] == "three_rates":
        title = f"{board['period']} 机关单位三率综合排名"
        axes.set_xlabel("综合得分（响应率/解决率/满意率加权）")
    else:
        label = domain.SUBJECT_LABELS[board["subject_type"]]
        title = f"{board['period']} {label}综合考评排名"
        axes.set_xlabel("总分")
        handles = [axes.bar(0, 0, color=c, label=g)
                   for g, c in GRADE_COLOURS.items()]
        axes.legend(handles=handles, loc="lower right", fontsize=8)
    axes.set_title(title)
    if not entries:
        axes.text(55, 0, "暂无数据", ha="center")
    return _render(figure, Canvas, fmt)


def trend_chart(name, series, fmt="png"):
    """Monthly totals and group scores of one subject: series is a list of
    (month, card or None)."""
    Figure, Canvas = _matplotlib()
    figure = Figure(figsize=(8, 4.2))
    axes = figure.add_subplot(1, 1, 1)
    months = [m for m, _ in series]
    x = list(range(len(months)))
    totals = [c["total"] if c else None for _, c in series]
    axes.plot(x, [t if t is not None else float("nan") for t in totals],
              marker="o", linewidth=2.2, color="#c0392b", label="总分")
    for group in domain.GROUPS:
        values = [c["groups"][group]["score"] if c else float("nan")
                  for _, c in series]
        axes.plot(x, values, marker=".", linewidth=1, alpha=0.8,
                  label=domain.GROUP_LABELS[group])
    axes.set_xticks(x)
    axes.set_xticklabels(months, rotation=45, fontsize=8)
    axes.set_ylim(0, 105)
    axes.set_ylabel("得分")
    axes.set_title(f"{name} 综合考评月度趋势")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left", ncol=3)
    return _render(figure, Canvas, fmt)
