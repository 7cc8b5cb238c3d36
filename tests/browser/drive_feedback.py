"""Drive a headless Chromium (args["chromium"], default Debian's) through
the recipients' pages with Playwright and print what it saw as JSON.

Run as a separate process (``python drive_feedback.py '<json args>'``): the
Playwright sync API must not share the eventlet-monkeypatched pytest process.
Args: {"chromium": executable, "rate_link", "board_url", "campaign_id",
"shots": folder, "phone"}.
Screenshots are taken at phone width (390 px)."""

import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu",
                 "--disable-background-networking",
                 "--disable-component-update", "--no-first-run",
                 "--disable-sync"]
PHONE_VIEWPORT = {"width": 390, "height": 844}


def submit(page, selector):
    """Click a submit button; return the HTTP status of the answer page."""
    with page.expect_navigation() as navigation:
        page.click(selector)
    return navigation.value.status


def heading(page):
    return page.locator("#heading").inner_text() if page.locator(
        "#heading").count() else page.locator("h1").inner_text()


def rate(context, link, shots):
    seen = {}
    first, second = context.new_page(), context.new_page()
    seen["page_status"] = first.goto(link).status
    second.goto(link)  # a second tab with the same form (double submit)
    seen["levels"] = first.locator("label.level").all_inner_texts()
    first.screenshot(path=str(shots / "feedback-rate.png"), full_page=True)
    first.check('input[name="rating"][value="4"]')
    first.click('label:has(input[name="aspect_efficiency"][value="5"])')
    first.click('label:has(input[name="aspect_attitude"][value="5"])')
    first.click('label:has(input[name="aspect_expertise"][value="4"])')
    first.fill("#comment", "服务热情，企业用工问题两天内就协调好了。")
    first.check('input[name="recommend"]')
    first.fill("#recommend_reason", "主动上门，靠前服务。")
    first.screenshot(path=str(shots / "feedback-rate-filled.png"),
                     full_page=True)
    seen["first_status"] = submit(first, "form button[type=submit]")
    seen["first_heading"] = heading(first)
    first.screenshot(path=str(shots / "feedback-thanks.png"), full_page=True)

    second.check('input[name="rating"][value="1"]')
    seen["second_status"] = submit(second, "form button[type=submit]")
    seen["second_heading"] = heading(second)
    second.screenshot(path=str(shots / "feedback-already-rated.png"),
                      full_page=True)
    seen["reopen_heading"] = heading(first) if first.goto(link) else None
    forged = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
    seen["forged_status"] = first.goto(forged).status
    seen["forged_heading"] = heading(first)
    first.screenshot(path=str(shots / "feedback-invalid-link.png"),
                     full_page=True)
    return seen


def object_(context, board_url, campaign_id, phone, shots):
    seen = {}
    page = context.new_page()
    seen["board_status"] = page.goto(board_url).status
    page.screenshot(path=str(shots / "feedback-publicity.png"),
                    full_page=True)
    section = page.locator(f"#p-{campaign_id}")
    seen["candidates"] = section.locator(".candidates li strong") \
        .all_inner_texts()

    def fill_and_submit(shot=None):
        section = page.locator(f"#p-{campaign_id}")
        section.locator("summary").click()
        section.locator('select[name="candidate_id"]').select_option(
            "m-101")
        section.locator('textarea[name="reason"]').fill(
            "据了解，该同志今年曾因服务态度问题被群众投诉，请核实。")
        section.locator('input[name="name"]').fill("赵六")
        section.locator('input[name="phone"]').fill(phone)
        if shot:
            page.screenshot(path=str(shots / shot), full_page=True)
        return submit(page, f"#p-{campaign_id} form button[type=submit]")

    seen["first_status"] = fill_and_submit("feedback-objection-form.png")
    seen["first_heading"] = heading(page)
    seen["first_text"] = page.locator(".message p").first.inner_text()
    page.screenshot(path=str(shots / "feedback-objection-filed.png"),
                    full_page=True)
    page.goto(board_url)
    seen["second_status"] = fill_and_submit()
    seen["second_heading"] = heading(page)
    page.screenshot(path=str(shots / "feedback-objection-refused.png"),
                    full_page=True)
    return seen


def board_shot(context, board_url, shots):
    page = context.new_page()
    page.goto(board_url)
    page.screenshot(path=str(shots / "feedback-publicity-answered.png"),
                    full_page=True)
    return {"answers": page.locator(".answer").all_inner_texts()}


def main(args):
    shots = Path(args["shots"])
    shots.mkdir(parents=True, exist_ok=True)
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.get("chromium") or CHROMIUM,
            args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(
                viewport=PHONE_VIEWPORT, locale="zh-CN", is_mobile=True,
                has_touch=True, device_scale_factor=1)
            if args.get("rate_link"):
                out["rate"] = rate(context, args["rate_link"], shots)
            if args.get("campaign_id"):
                out["objection"] = object_(context, args["board_url"],
                                           args["campaign_id"], args["phone"],
                                           shots)
            if args.get("board_shot"):
                out["board"] = board_shot(context, args["board_url"], shots)
        finally:
            browser.close()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
