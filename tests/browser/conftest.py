"""Say why the browser tests were skipped: in pytest's summary, and in the
file ``$SIFUWU_BROWSER_NOTE`` that ``./run test`` prints at the end."""

import os

from tests.browser import browser

skipped = []


def pytest_runtest_logreport(report):
    if report.skipped and report.nodeid.startswith("tests/browser/"):
        skipped.append(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    _, why = browser.find()
    if not skipped or why is None:
        return
    terminalreporter.write_line(
        f"browser tests skipped ({len(skipped)}): {why}", yellow=True)
    note = os.environ.get("SIFUWU_BROWSER_NOTE")
    if note:
        with open(note, "w", encoding="utf-8") as out:
            out.write(f"{len(skipped)} 个浏览器测试已跳过: {why}\n")
