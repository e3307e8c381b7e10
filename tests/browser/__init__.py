"""Tests with a real browser: headless Chromium driven through Selenium."""
