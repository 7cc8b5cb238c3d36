"""Where Debian's Chromium is missing or does not run (Ubuntu's snap stub),
the browser tests use Playwright's own download, else they are skipped with
the reason, and ``./run test`` tries ``playwright install chromium`` at most
once a day before saying so."""

import os
import subprocess
import sys
from pathlib import Path

from tests.browser import browser

ROOT = Path(__file__).resolve().parents[2]


def stub(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def fresh_find(monkeypatch, **env):
    browser.find.cache_clear()
    for name in ("SIFUWU_CHROMIUM", "SIFUWU_BROWSER_UNAVAILABLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        return browser.find()
    finally:
        browser.find.cache_clear()


def test_a_snap_stub_does_not_count(tmp_path, monkeypatch):
    snap = stub(tmp_path / "chromium", 'echo "Command \'/usr/bin/chromium\' '
                'requires the chromium snap to be installed." >&2\nexit 1\n')
    assert not browser.runs(snap)
    assert not browser.runs(tmp_path / "missing")
    real = stub(tmp_path / "chrome", 'echo "Chromium 156.0.8078.73"\n')
    assert browser.runs(real)


def test_without_any_browser_the_reason_is_given(tmp_path, monkeypatch):
    monkeypatch.setattr(browser, "DEBIAN_CHROMIUM", tmp_path / "none")
    monkeypatch.setattr(browser, "playwright_chromium", lambda: None)
    executable, why = fresh_find(monkeypatch)
    assert executable is None
    assert "/usr/bin/chromium is missing" in why
    assert "playwright install chromium" in why
    _, why = fresh_find(monkeypatch, SIFUWU_BROWSER_UNAVAILABLE="下载失败")
    assert why == "下载失败"


def test_playwrights_own_browser_is_the_fallback(tmp_path, monkeypatch):
    bundled = stub(tmp_path / "chrome", 'echo "Chromium 159.0"\n')
    monkeypatch.setattr(browser, "DEBIAN_CHROMIUM", tmp_path / "none")
    monkeypatch.setattr(browser, "playwright_chromium", lambda: bundled)
    assert fresh_find(monkeypatch) == (str(bundled), None)


def test_debian_chromium_comes_first(tmp_path, monkeypatch):
    debian = stub(tmp_path / "chromium", 'echo "Chromium 156.0"\n')
    monkeypatch.setattr(browser, "DEBIAN_CHROMIUM", debian)
    monkeypatch.setattr(browser, "playwright_chromium",
                        lambda: (_ for _ in ()).throw(AssertionError))
    assert fresh_find(monkeypatch) == (str(debian), None)


def setup_browser(tmp_path, venv):
    """./run's setup_browser with no Debian Chromium and a Playwright whose
    download fails; returns (stderr, log of the install attempts)."""
    log = tmp_path / "installs.log"
    snippet = ("source ./run; chromium_runs() { return 1; }; "
               "apt_install() { return 1; }; setup_browser; "
               'echo "UNAVAILABLE=$SIFUWU_BROWSER_UNAVAILABLE"')
    env = {**os.environ, "SIFUWU_VENV": str(venv),
           "SIFUWU_HOME": str(tmp_path / "home"), "INSTALL_LOG": str(log)}
    done = subprocess.run(["bash", "-c", snippet], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    attempts = log.read_text().splitlines() if log.exists() else []
    return done.stdout + done.stderr, attempts


def test_run_tries_playwright_once_a_day_then_says_why(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    stub(venv / "bin" / "python", 'echo "$*" >> "$INSTALL_LOG"\nexit 1\n')
    output, attempts = setup_browser(tmp_path, venv)
    assert any("-m playwright install" in a and a.endswith("chromium")
               for a in attempts)
    assert "尝试 playwright install chromium" in output
    assert "UNAVAILABLE=没有可用的 Chromium" in output
    assert "浏览器测试将跳过" in output
    # a second run within the day does not download again, but still says why
    (tmp_path / "installs.log").unlink()
    output, attempts = setup_browser(tmp_path, venv)
    assert not any("install" in a for a in attempts)
    assert "UNAVAILABLE=没有可用的 Chromium" in output


def test_the_skip_reason_is_printed_at_the_end(tmp_path):
    note = tmp_path / "note"
    env = {**os.environ, "SIFUWU_CHROMIUM": str(tmp_path / "none"),
           "SIFUWU_BROWSER_NOTE": str(note)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/browser"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    # every browser test (one per file) is skipped, none fails
    count = len(list((ROOT / "tests" / "browser").glob("test_*.py")))
    assert f"{count} skipped" in done.stdout
    assert f"browser tests skipped ({count}): SIFUWU_CHROMIUM=" in done.stdout
    assert f"{count} 个浏览器测试已跳过: SIFUWU_CHROMIUM=" in note.read_text()
