"""The browser tests are never skipped silently: a missing Chromium fails them unless
SKIP_BROWSER_TESTS=1 is set on purpose."""

from __future__ import annotations

import pytest

from tests.browser.conftest import require_chromium


def test_a_missing_chromium_fails_the_browser_tests():
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        require_chromium("/nonexistent/chromium", {})


def test_a_missing_chromium_fails_even_when_skip_is_set_to_anything_but_1():
    with pytest.raises(pytest.fail.Exception):
        require_chromium("/nonexistent/chromium", {"SKIP_BROWSER_TESTS": "yes"})


def test_a_missing_chromium_skips_only_when_asked_to():
    with pytest.raises(pytest.skip.Exception):
        require_chromium("/nonexistent/chromium", {"SKIP_BROWSER_TESTS": "1"})
