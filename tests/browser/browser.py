"""Which headless Chromium the browser tests drive, or why there is none.

In order: ``SIFUWU_CHROMIUM`` (a path; ``./run test`` sets it), Debian's
``/usr/bin/chromium``, then the Chromium that ``playwright install chromium``
downloaded. A browser counts only if ``--version`` answers: Ubuntu's
``chromium`` is a stub that hands over to snap, which does not run here.
``./run test`` sets ``SIFUWU_BROWSER_UNAVAILABLE`` to the reason when it found
none; the tests are then skipped with that reason."""

import functools
import os
import subprocess
import sys
from pathlib import Path

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT_PATH = ("from playwright.sync_api import sync_playwright\n"
                   "with sync_playwright() as p:\n"
                   "    print(p.chromium.executable_path)\n")


def runs(executable):
    """``executable --version`` answers within 30 s."""
    try:
        done = subprocess.run([str(executable), "--version"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and "chrom" in done.stdout.lower()


def playwright_chromium():
    """The path of Playwright's own Chromium, if it has been downloaded
    (asked in a subprocess: the sync API must not meet eventlet)."""
    try:
        done = subprocess.run([sys.executable, "-c", PLAYWRIGHT_PATH],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = Path(done.stdout.strip()) if done.returncode == 0 else None
    return path if path and path.is_file() else None


@functools.cache
def find():
    """(executable path, None) or (None, why there is no browser)."""
    chosen = os.environ.get("SIFUWU_CHROMIUM")
    if chosen:
        if runs(chosen):
            return chosen, None
        return None, f"SIFUWU_CHROMIUM={chosen} does not run"
    if runs(DEBIAN_CHROMIUM):
        return str(DEBIAN_CHROMIUM), None
    bundled = playwright_chromium()
    if bundled and runs(bundled):
        return str(bundled), None
    return None, os.environ.get("SIFUWU_BROWSER_UNAVAILABLE") or (
        "no usable Chromium: Debian's /usr/bin/chromium is missing or does "
        "not run (Ubuntu's is a snap stub) and Playwright's own is not "
        "installed (`playwright install chromium` needs its download site)")
