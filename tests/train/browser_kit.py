"""Render a report page in a real headless Chromium: the DOM after load, which images decoded, and a screenshot.

Debian's `chromium` package is the browser (scripts/setup.sh and .ci/run
install it); nothing here lets a tool fetch a browser of its own. The page
under test is copied with a small load hook appended, which records in the
DOM whether each image decoded (`naturalWidth > 0`); the report itself
carries no script. Tests skip only where the browser cannot be installed
(not root and no chromium); CI sets CAIC_REQUIRE_BROWSER=1 so a missing
browser fails there instead of skipping.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

BROWSER_NAMES = ("chromium", "chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars", "--virtual-time-budget=5000")
HOOK = ("<script>window.addEventListener('load', function () { document.body.setAttribute('data-images', "
        "Array.from(document.images).map(function (i) { return i.complete && i.naturalWidth > 0 ? '1' : '0'; }).join('')); });</script>")


def browser() -> str:
    """The chromium executable, or a skip (fail under CI) when there is none."""
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CAIC_REQUIRE_BROWSER") or os.geteuid() == 0:
        pytest.fail("chromium is not installed: run `apt-get install -y chromium` (scripts/setup.sh does so when run as root)")
    pytest.skip("chromium is not installed and this user cannot install it")


@dataclass
class Rendered:
    dom: str
    images: str  # one character per <img>: 1 decoded, 0 broken
    screenshot: Path


def _run(args: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([browser(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120, check=False)


def render(page: Path, screenshot: Path, width: int = 1100, height: int = 1800) -> Rendered:
    hooked = page.with_name(page.stem + ".browser-test.html")
    hooked.write_text(page.read_text(encoding="utf-8").replace("</body>", HOOK + "</body>"), encoding="utf-8")
    try:
        dumped = _run(["--dump-dom", hooked.resolve().as_uri()])
        assert dumped.returncode == 0, dumped.stderr[-2000:]
        shot = _run([f"--screenshot={screenshot}", f"--window-size={width},{height}", page.resolve().as_uri()])
        assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    finally:
        hooked.unlink(missing_ok=True)
    found = re.search(r'<body[^>]*data-images="([01]*)"', dumped.stdout)
    assert found, "the load hook never ran: the page did not finish loading"
    keep = os.environ.get("CAIC_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(keep) / screenshot.name)
    return Rendered(dumped.stdout, found.group(1), screenshot)


def visible_text(dom: str) -> str:
    """The DOM's text with tags, styles and scripts removed, whitespace collapsed."""
    dom = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", dom, flags=re.DOTALL)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)).strip())


def headings(dom: str) -> list[str]:
    """The page's section headings (<h2>), in order."""
    return [html.unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in re.findall(r"<h2[^>]*>(.*?)</h2>", dom, flags=re.DOTALL)]
