"""The console channel prints the alert content readably and threads replies."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from watcher.alerts.blocks import build_alert, build_burst_notice, build_digest, build_thread_reply
from watcher.alerts.console import ConsoleSender
from watcher.alerts.delivery import DeliveryOutcome, SlackPayload
from watcher.model import AlertMessage, Hit, TermMatch

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
MSG = AlertMessage(
    alert_id=5,
    route="console",
    title="Japan & AUKUS <update>",
    url="https://news.example.org/a?b=1&c=2",
    outlet="Example Wire",
    published=NOW - timedelta(hours=1),
    hits=(
        Hit(
            "pillar2-japan",
            "v1",
            "high",
            2.0,
            (TermMatch("AUKUS", "text", 0, 5), TermMatch("日本", "text", 0, 2)),
            snippet="日本はAUKUSの第2の柱に参加する。 <!channel>",
        ),
    ),
    story_id=3,
)


def test_alert_prints_readable_text() -> None:
    """Severity, rule, title, URL, outlet, time and snippet print with terms marked **bold**."""
    stream = io.StringIO()
    sender = ConsoleSender(stream, start=1_700_000_000, json_lines=False)
    payload = build_alert(MSG, rule_names={"pillar2-japan": "Japan and Pillar II"}, now=NOW)
    result = sender.send(payload, channel="console", thread_ts=None)
    assert (result.outcome, result.ts, result.channel) == (
        DeliveryOutcome.SENT,
        "1700000000.000001",
        "console",
    )
    lines = stream.getvalue().splitlines()
    assert lines[1:5] == [
        "HIGH · Japan and Pillar II",
        "**Japan & AUKUS <update> <https://news.example.org/a?b=1&c=2>**",
        "Example Wire · 2025-03-14 11:00 UTC (1 h ago)",
        "> **日本**は**AUKUS**の第2の柱に参加する。",
    ]
    assert "`pillar2-japan`" in lines[-1]
    assert "\u200b" not in stream.getvalue()
    assert "\x1b" not in stream.getvalue()


def test_thread_reply_is_indented_under_arrow() -> None:
    """A reply (thread_ts given) prints indented as "↳ Also reported by ..." with a new ts."""
    stream = io.StringIO()
    sender = ConsoleSender(stream, start=1, json_lines=False)
    parent = sender.send(
        build_alert(MSG, rule_names={}, now=NOW), channel="console", thread_ts=None
    )
    reply = sender.send(
        build_thread_reply(MSG, rule_names={}, now=NOW), channel="console", thread_ts=parent.ts
    )
    assert reply.ts == "1.000002"
    tail = stream.getvalue().splitlines()[-2:]
    assert tail[0] == (
        "  ↳ Also reported by **Example Wire**: Japan & AUKUS <update> "
        "<https://news.example.org/a?b=1&c=2>"
    )
    assert tail[1].startswith("    2025-03-14 11:00 UTC (1 h ago)")


def test_ansi_bold_on_terminal() -> None:
    """With color on, bold uses ANSI codes instead of asterisks."""
    stream = io.StringIO()
    ConsoleSender(stream, color=True, json_lines=False).send(
        build_burst_notice("r1", 3, timedelta(hours=1)), channel="c", thread_ts=None
    )
    assert "\x1b[1mBurst:\x1b[0m" in stream.getvalue()
    assert "**" not in stream.getvalue()


def test_text_only_and_digest_payloads() -> None:
    """A text-only payload prints its text; a digest prints its header and story lines."""
    stream = io.StringIO()
    sender = ConsoleSender(stream)
    sender.send(SlackPayload(text="plain &amp; simple"), channel="c", thread_ts=None)
    sender.send(build_digest([MSG], rule_names={}, now=NOW), channel="c", thread_ts=None)
    out = stream.getvalue()
    assert "plain & simple" in out
    assert "Digest: 1 story" in out
    assert (
        "• Japan & AUKUS <update> <https://news.example.org/a?b=1&c=2> — Example Wire, 1 h ago"
        in out
    )


def test_stdout_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream the console sender writes to stdout."""
    sender = ConsoleSender()
    sender.send(SlackPayload(text="hello"), channel="c", thread_ts=None)
    assert "hello" in capsys.readouterr().out


def test_off_a_terminal_each_alert_is_one_json_line() -> None:
    """Piped (as in a container), an alert is one JSON object so stdout stays JSON lines."""
    import json

    stream = io.StringIO()
    result = ConsoleSender(stream).send(
        build_burst_notice("r1", 3, timedelta(hours=1)), channel="#c", thread_ts=None
    )
    record = json.loads(stream.getvalue())
    assert record["event"] == "alert"
    assert record["channel"] == "#c"
    assert record["ts"] == result.ts
    assert "Burst" in record["text"]
