"""Headless Chromium for the page and report tests: Debian's `chromium` (scripts/browser-for-tests
installs it), driven by Playwright through its executable path (no browser download)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("GRADER_TEST_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--disable-quic"]


def need_chromium():
    """Skip the calling test module, saying why, when there is no Chromium or no Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/browser-for-tests (apt-get install chromium) "
                    "or set GRADER_TEST_CHROMIUM", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
