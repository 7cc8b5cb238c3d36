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
               [r.get(key) or 0 for r in rows], width, label=label,
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
    loader=jinja2.PackageLoader("tooling", "templates"), autoescape=True)


def write_report(data, path):
    """Render ``data`` (see ``report_data``) to ``path``; returns the path."""
    charts = {name: "data:image/png;base64," + base64.b64encode(png).decode()
              for name, png in (data.get("service_charts") or {}).items()}
    if data.get("unit_ranking"):
        charts["ranking"] = ranking_chart(data["unit_ranking"])
    if data.get("trend"):
        charts["trend"] = trend_chart(data["trend"]["months"],
                                      data["trend"]["series"],
                                      "服务活动、党建活动与诉求月度趋势")
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


RUNG_NAMES = {"standardised": "标准化党支部", "four_services_advanced": "四服务先进党支部",
              "demonstration": "示范党支部", "model": "模范党支部", None: "未定级"}
CHANNEL_NAMES = {"sms": "短信", "wechat": "微信", "email": "邮件", "web": "网站",
                 "press": "报刊"}


def report_data(seen, story):
    """What the report shows, from what the story saw (tooling.story)."""
    a = seen["assessment"]
    year = story.year
    unit_entries = a["boards"]["unit"]["entries"]
    by_month = {m: 0 for m in year.months}
    for event in year.activities:
        by_month[event["data"]["occurred_at"][:7]] += 1
    party = {m: 0 for m in year.months}
    for event in year.party:
        party[event["data"]["occurred_at"][:7]] += 1
    demands = {row["month"]: row.get("demands", 0) for row in a["monthly"]}
    ratings = seen["ratings"]
    rect = seen["rectifications"]
    notes = seen["notifications"]
    selection = dict(seen.get("selection") or {})
    final_ids = [f.get("candidate_id") for f in selection.get("final") or []]
    by_id = {c["candidate_id"]: c for c in selection.get("candidates", [])}
    selection["final_rows"] = [
        dict(by_id.get(f.get("candidate_id"), {}), **f)
        for f in selection.get("final") or []]
    selection["final_ids"] = final_ids
    totals = {
        "党员": seen["city"]["members"], "党支部": seen["city"]["branches"],
        "单位": seen["city"]["units"],
        "报送事件": seen["events"]["total"],
        "服务活动": seen["events"]["activities"],
        "党建活动": seen["events"]["party"],
        "评价": ratings["submitted"] + rect["rerated"],
        "差评整改": rect["closed"],
        "通知": sum(notes["by_channel"].values()),
    }
    return {
        "seed": story.seed, "scale": story.scale, "city_name": "滨江",
        "totals": totals,
        "unit_ranking": [{"name": e["name"], "score": e["total"],
                          "grade": e["grade"]} for e in unit_entries],
        "unit_table": unit_entries[:20],
        "branch_table": a["boards"]["branch"]["entries"][:10],
        "member_table": a["boards"]["member"]["entries"][:10],
        "trend": {"months": [m[5:] + "月" for m in year.months], "series": {
            "服务活动": [by_month[m] for m in year.months],
            "党建活动": [party[m] for m in year.months],
            "诉求": [demands.get(m, 0) for m in year.months]}},
        "three_rates": a["three_rates"],
        "satisfaction": {int(k): v for k, v in ratings["distribution"].items()},
        "ladder": {RUNG_NAMES.get(k, k): v for k, v in sorted(
            a["ladder"].items(), key=lambda kv: str(kv[0]))},
        "rectifications": {"差评": rect["opened"], "已回访销号": rect["closed"],
                           "复评": rect["rerated"],
                           "复评满意": rect["rerated_satisfied"],
                           "申诉成立": sum(1 for x in rect["appeals"]
                                       if x["upheld"]),
                           "申诉驳回": sum(1 for x in rect["appeals"]
                                       if x["upheld"] is False)},
        "notifications": {CHANNEL_NAMES.get(k, k): v
                          for k, v in sorted(notes["delivered"].items())},
        "notification_rows": notes["stats"],
        "demands": seen["demands"],
        "selection": selection,
        "service_charts": a.get("charts") or {},
        "timings": seen["timings"], "elapsed": seen.get("elapsed"),
    }


ROLE_NAMES = {"committee": "工委", "unit_staff": "单位党务干部",
              "branch_secretary": "支部书记", "supervisor": "督查",
              "operator": "运维", "auditor": "审计"}


def access_summary(access):
    """One line per role: what the activity log, the SMS log and the
    account audit show it (a number of records, 可见, or the refusal)."""
    def shown(value):
        if "refused" in value:
            return f"无权（{value['refused']}）"
        return f"{value['total']} 条" if "total" in value else "可见"

    lines = []
    for row in access["roles"]:
        title = ROLE_NAMES.get(row["role"], row["role"])
        if row["role"] == "unit_staff":
            title += f"（{access['unit']}）"
        lines.append(f"{title}：服务活动 {shown(row['activities'])}，短信记录 "
                     f"{shown(row['messages'])}，账户审计 {shown(row['audit'])}")
    return "\n".join(lines)


def print_summary(seen, console):
    """A readable Chinese summary of the story."""
    from rich.table import Table
    city, events = seen["city"], seen["events"]
    ratings, rect = seen["ratings"], seen["rectifications"]
    a, sel = seen["assessment"], seen.get("selection") or {}
    table = Table(title="机关党建+四服务 · 全流程演示小结", show_lines=True)
    table.add_column("环节", style="bold")
    table.add_column("结果")
    table.add_row("虚构城市", f"{city['units']} 个市直单位、{city['branches']} 个党支部、"
                  f"{city['members']} 名党员；企业 {city['enterprises']}、项目 "
                  f"{city['projects']}、社区 {city['communities']}")
    table.add_row("数据接入", f"HTTP 批量 {seen['ingest']['http'].get('accepted', 0)} 条、"
                  f"AMQP（12345 热线）{seen['ingest']['amqp']} 条；服务活动 "
                  f"{events['activities']}、党建活动 {events['party']}、业务指标 "
                  f"{events['kpis']}")
    d = seen["demands"]
    table.add_row("诉求办理", f"按时办结 {d.get('on_time', 0)}、超时办结 {d.get('late', 0)}、"
                  f"干部当场办理 {d.get('staff_handled', 0)}、逾期督办 "
                  f"{d.get('overdue', 0)}")
    dist = ratings["distribution"]
    table.add_row("服务评价", f"邀请短信 {seen['invitations']} 条，评价 "
                  f"{ratings['submitted']} 条：" + "、".join(
                      f"{LEVEL_NAMES[k]} {dist.get(k, dist.get(str(k), 0))}"
                      for k in (5, 4, 3, 2, 1)))
    table.add_row("差评整改", f"差评 {rect['opened']} 条 → 整改单 {rect['opened']} 件，"
                  f"回访销号 {rect['closed']}，复评 {rect['rerated']}（满意 "
                  f"{rect['rerated_satisfied']}）；申诉 {len(rect['appeals'])} 件（成立 "
                  f"{sum(1 for x in rect['appeals'] if x['upheld'])}）")
    top = a["boards"]["unit"]["entries"][:3]
    table.add_row("综合考评", "单位前三：" + "、".join(
        f"{e['name']}（{e['total']:.1f}，{e['grade']}）" for e in top)
        + "；支部阶梯：" + "、".join(
            f"{RUNG_NAMES.get(k, k)} {v}" for k, v in a["ladder"].items()))
    access = seen.get("access")
    if access:
        table.add_row("分角色访问", access_summary(access))
    if sel:
        final = sel.get("final") or []
        table.add_row("开门评选", f"{len(sel['candidates'])} 名候选（差额，名额 "
                      f"{sel['quota_total']}），评选组 {len(sel['panel'])} 人，抽取复核"
                      f"{'通过' if sel['verify_ok'] else '未通过'}；异议 1 件已答复；"
                      f"最终名单 {len(final)} 个"
                      + (f"（公示期按模拟时间推进 {sel['simulated_days']} 天）"
                         if sel.get("simulated_days") else "")
                      + f"；审计链头 {str(sel.get('chain_head'))[:16]}…")
    notes = seen["notifications"]
    table.add_row("通知", "、".join(
        f"{CHANNEL_NAMES.get(k, k)} {notes['delivered'].get(k, 0)}/{v}"
        for k, v in sorted(notes["by_channel"].items())) + "（送达/总数）")
    console.print(table)
