"""The demo's report (演示报告): one self-contained HTML page with charts,
for people who would rather look than read."""

import base64
import datetime as dt
import io
from pathlib import Path

import jinja2

CJK_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "SimHei"]
RED, GOLD, GREY, BLUE = "#c8102e", "#d4a017", "#9e9e9e", "#1f5f99"
LEVEL_NAMES = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["font.sans-serif"] = CJK_FONTS + plt.rcParams[
        "font.sans-serif"]
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["axes.spines.top"] = False
    plt.rcParams["axes.spines.right"] = False
    return plt


def _png(fig):
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(
        buffer.getvalue()).decode()


def ranking_chart(rows, title="单位综合考评排名（前 15）"):
    plt = _pyplot()
    rows = rows[:15][::-1]
    fig, ax = plt.subplots(figsize=(8, max(3, 0.38 * len(rows) + 1)))
    colors = [RED if r.get("grade") == "优秀" else BLUE for r in rows]
    ax.barh([r["name"] for r in rows], [r["score"] for r in rows],
            color=colors)
    for index, row in enumerate(rows):
        ax.text(row["score"], index, f" {row['score']:.1f} {row.get('grade', '')}",
                va="center", fontsize=9)
    ax.set_title(title)
    ax.set_xlabel("综合得分")
    return _png(fig)


def trend_chart(months, series, title="月度趋势"):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for (label, values), color in zip(series.items(), (RED, BLUE, GOLD)):
        ax.plot(months, values, marker="o", label=label, color=color)
    ax.set_title(title)
    ax.legend(frameon=False)
    ax.tick_params(axis="x", rotation=45)
    return _png(fig)


def three_rates_chart(rows, title="“接诉即办”三率（前 12 个单位）"):
    plt = _pyplot()
    rows = rows[:12]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.27
    xs = range(len(rows))
    for offset, (key, label, color) in enumerate((
            ("response_rate", "响应率", BLUE),
            ("resolution_rate", "解决率", GOLD),
            ("satisfaction_rate", "满意率", RED))):
        ax.bar([x + (offset - 1) * width for x in xs],
               [100 * (r.get(key) or 0) for r in rows], width, label=label,
               color=color)
    ax.set_xticks(list(xs), [r["name"] for r in rows], rotation=45,
                  ha="right", fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 125)
    ax.set_title(title)
    ax.legend(frameon=False, ncol=3, loc="upper left")
    return _png(fig)


def distribution_chart(counts, title="满意度分布"):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    levels = [5, 4, 3, 2, 1]
    colors = [RED, "#e0574f", GOLD, GREY, "#555555"]
    ax.bar([LEVEL_NAMES[level] for level in levels],
           [counts.get(level, counts.get(str(level), 0)) for level in levels],
           color=colors)
    ax.set_title(title)
    return _png(fig)


def bars_chart(labels, values, title, color=BLUE):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(labels, values, color=color)
    for index, value in enumerate(values):
        ax.text(index, value, f"{value}", ha="center", va="bottom",
                fontsize=9)
    ax.set_title(title)
    return _png(fig)


TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("sifuwu", "templates"), autoescape=True)


def write_report(data, path):
    """Render ``data`` (see sifuwu.story) to ``path``; returns the path."""
    charts = {}
    if data.get("unit_ranking"):
        charts["ranking"] = ranking_chart(data["unit_ranking"])
    if data.get("trend"):
        charts["trend"] = trend_chart(data["trend"]["months"],
                                      data["trend"]["series"],
                                      "服务活动与满意度月度趋势")
    if data.get("three_rates"):
        charts["three_rates"] = three_rates_chart(data["three_rates"])
    if data.get("satisfaction"):
        charts["satisfaction"] = distribution_chart(data["satisfaction"])
    if data.get("ladder"):
        charts["ladder"] = bars_chart(list(data["ladder"]),
                                      list(data["ladder"].values()),
                                      "党支部阶梯", GOLD)
    if data.get("rectifications"):
        charts["rectifications"] = bars_chart(
            list(data["rectifications"]), list(data["rectifications"].values()),
            "差评整改情况", RED)
    if data.get("notifications"):
        charts["notifications"] = bars_chart(
            list(data["notifications"]), list(data["notifications"].values()),
            "各渠道通知送达数")
    html = TEMPLATES.get_template("report.html").render(
        data=data, charts=charts,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
