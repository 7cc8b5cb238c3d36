"""Drive a headless Chromium through the staff console with Playwright and
print what it saw as JSON (a separate process: Playwright's sync API must
not share the eventlet-monkeypatched pytest process).

Args: {"chromium": executable, "url": the console, "shots": folder,
"accounts": [{"role", "username", "password", "totp"?}]}. Each account
signs in by keyboard at desktop size (1366×768), reads its home page and
every page of its menu, then tries /activities by address; the first one
is also shown at phone width (390 px)."""

import json
import sys
from pathlib import Path

import pyotp
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu",
                 "--disable-background-networking",
                 "--disable-component-update", "--no-first-run",
                 "--disable-sync"]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def sign_in(page, url, account):
    page.goto(url + "/login")
    page.fill("#username", account["username"])
    page.fill("#password", account["password"])
    if account.get("totp"):
        page.fill("#totp", pyotp.TOTP(account["totp"]).now())
    with page.expect_navigation():
        page.keyboard.press("Enter")  # the form by keyboard


def visit(browser, url, account, shots, viewport, suffix=""):
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    seen = {"role": account["role"]}
    page.goto(url + "/login")
    if not suffix:
        page.screenshot(path=str(shots / "console-login.png"))
    sign_in(page, url, account)
    seen["after_sign_in"] = page.url[len(url):]
    seen["menu"] = page.locator("nav.menu a").all_inner_texts()
    seen["home"] = page.locator("main").inner_text()
    page.screenshot(path=str(shots / f"console-home-{account['role']}"
                             f"{suffix}.png"), full_page=True)
    page.keyboard.press("Tab")  # the first stop is the skip link
    seen["first_tab"] = page.evaluate("document.activeElement.textContent")
    pages = {}
    for link in page.locator("nav.menu a").all():
        pages[link.inner_text()] = link.get_attribute("href")
    seen["pages"] = {}
    for title, href in pages.items():
        answer = page.goto(url + href)
        seen["pages"][href] = {"status": answer.status,
                               "text": page.locator("main").inner_text()}
        if href != "/":
            page.screenshot(path=str(
                shots / f"console{href.replace('/', '-')}-{account['role']}"
                        f"{suffix}.png"), full_page=True)
    typed = page.goto(url + "/activities")
    seen["typed_activities"] = {"status": typed.status,
                                "text": page.locator("main").inner_text()}
    context.close()
    return seen


def main():
    args = json.loads(sys.argv[1])
    shots = Path(args["shots"])
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args["chromium"],
                                    args=CHROMIUM_ARGS)
        seen = [visit(browser, args["url"], account, shots, DESKTOP)
                for account in args["accounts"]]
        phone = args.get("phone_account")
        if phone:
            seen.append(visit(browser, args["url"], phone, shots, PHONE,
                              suffix="-phone"))
        browser.close()
    print(json.dumps(seen, ensure_ascii=False))


if __name__ == "__main__":
    main()
