"""Shared fixtures: each lives in its own module under tests/support/."""

pytest_plugins = [
    "tests.support.httpserver",
    "tests.support.pg",
    "tests.support.slackstub",
    "tests.support.browser",
]
