"""Golden Slack payloads: each case's exact Block Kit JSON lives in tests/golden/slack/.

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/test_alerts_golden.py`
and review the diff. Each file says what it shows (`description`) next to the payload.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from watcher.alerts.blocks import (
    SlackPayload,
    build_alert,
    build_burst_notice,
    build_digest,
    build_ops_notice,
    build_thread_reply,
    payload_size,
)
from watcher.model import AlertMessage, Feedback, Hit, TermMatch, Verdict
from watcher.store.route_messages import OpsNotice

GOLDEN = Path(__file__).parent / "golden" / "slack"
NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
NAMES = {
    "pillar2-japan": "Japan and AUKUS Pillar II",
    "security-clearance": "Security clearance law",
    "export-waivers": "Export-control waivers",
    "pillar2-expansion": "Pillar II expansion",
}


def _hit(rule_id: str, severity: str, score: float, snippet: str, *terms: str) -> Hit:
    matches = tuple(TermMatch(t, "text", 0, len(t)) for t in terms)
    return Hit(rule_id, "v1", severity, score, matches, snippet=snippet)


def _msg(**kw: Any) -> AlertMessage:
    base: dict[str, Any] = {
        "alert_id": 42,
        "route": "#aukus-alerts",
        "title": "Japan to join AUKUS Pillar II defence technology projects",
        "url": "https://news.example.org/world/2025/03/14/japan-aukus-pillar-ii",
        "outlet": "Example Wire",
        "published": NOW - timedelta(hours=3, minutes=15),
        "hits": (
            _hit(
                "pillar2-japan",
                "high",
                4.25,
                "Officials in Tokyo said Japan would take part in AUKUS Pillar II work on "
                "hypersonics and quantum technologies, starting with consultations this year.",
                "AUKUS",
                '"Pillar II"',
                "Japan",
            ),
        ),
        "story_id": 7,
    }
    base.update(kw)
    return AlertMessage(**base)


def _case_basic() -> SlackPayload:
    return build_alert(_msg(), rule_names=NAMES, now=NOW)


def _case_escaping() -> SlackPayload:
    msg = _msg(
        title="<!channel> AUKUS & Japan: <b>talks</b> <https://phish.example|update> <@U024BE7LH>",
        url="https://news.example.org/a?x=1&y=<2>|z",
        outlet="Outlet <!here|here> <#C024BE7LR|general>",
        hits=(
            _hit(
                "pillar2-japan",
                "high",
                2.0,
                "Read <!subteam^SAZ94GDB8|@analysts> & <!everyone>: AUKUS <partners> meet; @here",
                "AUKUS",
            ),
        ),
    )
    return build_alert(msg, rule_names={"pillar2-japan": "<!channel> Japan & Pillar II"}, now=NOW)


def _case_several_rules() -> SlackPayload:
    hits = (
        _hit("export-waivers", "medium", 1.5, "ITAR exemptions for AUKUS partners.", "ITAR"),
        _hit(
            "security-clearance",
            "high",
            2.0,
            "The new security clearance system is a precondition for AUKUS cooperation.",
            '"security clearance"',
        ),
        _hit(
            "pillar2-japan",
            "high",
            3.75,
            "Japan is expected to join AUKUS Pillar II projects on autonomous systems.",
            "Japan",
            "AUKUS",
            '"Pillar II"',
        ),
        _hit("pillar2-expansion", "low", 0.8, "Canada and New Zealand also consulted.", "Canada"),
    )
    return build_alert(_msg(hits=hits), rule_names=NAMES, now=NOW)


def _case_japanese() -> SlackPayload:
    msg = _msg(
        title="日本、AUKUS「第2の柱」参加へ調整　防衛装備の共同開発",
        url="https://news.example.jp/articles/2025031400123",
        outlet="共同通信",
        published=datetime(2025, 3, 14, 18, 30, tzinfo=UTC) - timedelta(hours=9),
        hits=(
            _hit(
                "pillar2-japan",
                "high",
                3.0,
                "政府は１４日、米英豪の安全保障枠組みＡＵＫＵＳの「第２の柱」に日本が参加する方向で調整に入った。",
                "AUKUS",
                '"第2の柱"',
                "日本",
            ),
        ),
    )
    return build_alert(msg, rule_names={"pillar2-japan": "日本とAUKUS第2の柱"}, now=NOW)


def _case_limits() -> SlackPayload:
    hits = tuple(
        _hit(
            f"rule-{i:02d}",
            "medium",
            60.0 - i,
            "word " * 2_000 + "AUKUS " + "tail " * 2_000,
            "AUKUS",
        )
        for i in range(55)
    )
    names = {
        f"rule-{i:02d}": f"Rule number {i} with a deliberately long display name" for i in range(55)
    }
    msg = _msg(title="T" * 400, outlet="O" * 300, hits=hits)
    return build_alert(msg, rule_names=names, now=NOW)


def _case_no_link_no_date() -> SlackPayload:
    return build_alert(
        _msg(url="javascript:alert(1)", published=None, hits=()), rule_names={}, now=NOW
    )


def _case_thread_reply() -> SlackPayload:
    msg = _msg(
        alert_id=43,
        title="Japan set to join AUKUS advanced capabilities pillar",
        url="https://other.example.com/asia/japan-aukus",
        outlet="Other Daily",
        published=NOW - timedelta(minutes=40),
        thread_ts="1700000000.000001",
    )
    return build_thread_reply(msg, rule_names=NAMES, now=NOW)


def _case_digest() -> SlackPayload:
    first = _msg()
    copy = _msg(
        alert_id=44, outlet="Syndicated Times", url="https://syndicated.example/japan-aukus"
    )
    other = _msg(
        alert_id=45,
        story_id=8,
        title="Parliament passes security clearance bill",
        url="https://news.example.org/politics/clearance-bill",
        published=NOW - timedelta(minutes=25),
        hits=(_hit("security-clearance", "high", 2.5, "The bill passed.", "clearance"),),
    )
    low = _msg(
        alert_id=46,
        story_id=9,
        title="Canada weighs AUKUS Pillar II role",
        url="https://news.example.ca/aukus",
        hits=(_hit("pillar2-expansion", "low", 1.0, "Canada.", "Canada"),),
    )
    return build_digest(
        [first, copy, other, low], rule_names=NAMES, now=NOW, since=NOW - timedelta(hours=1)
    )


def _case_burst() -> SlackPayload:
    return build_burst_notice("pillar2-japan", 20, timedelta(hours=1), rule_names=NAMES)


def _case_ops_unhealthy() -> SlackPayload:
    notice = OpsNotice(
        id=12, route="#ops", reason="unhealthy", source="Example <Wire> & Co",
        url="https://news.example.org/feed.xml", outcome="http_error", error="HTTP 503 <html>",
        count=5, since=NOW - timedelta(hours=2, minutes=30), raised_at=NOW,
    )  # fmt: skip
    return build_ops_notice(notice, now=NOW)


def _case_feedback_buttons() -> SlackPayload:
    return build_alert(_msg(), rule_names=NAMES, now=NOW, feedback=Feedback("Qx3vT9kLm2PwZr8a"))


def _case_feedback_judged() -> SlackPayload:
    verdicts = ((Verdict.NOT_RELEVANT, "alice"), (Verdict.RELEVANT, "bob_<!here>"))
    feedback = Feedback("Qx3vT9kLm2PwZr8a", verdicts)
    return build_alert(_msg(), rule_names=NAMES, now=NOW, feedback=feedback)


def _case_degraded() -> SlackPayload:
    return _case_several_rules().degraded()


CASES: dict[str, tuple[str, Callable[[], SlackPayload]]] = {
    "alert_basic": (
        "One article, one rule: header, link, outlet/time, bold terms, ids.",
        _case_basic,
    ),
    "alert_escaping": (
        "Feed text with <!channel>, <@U..>, <#C..>, subteam, HTML and a forged link: all "
        "escaped or stripped; the URL's | and > are percent-encoded.",
        _case_escaping,
    ),
    "alert_several_rules": (
        "Four rules of one article in one message, highest severity (then score) first.",
        _case_several_rules,
    ),
    "alert_japanese": (
        "Japanese title, outlet and snippet kept intact; the full-width form of AUKUS is bold.",
        _case_japanese,
    ),
    "alert_limits": (
        "55 rules, a 400-character title and huge snippets: truncated to Slack's limits.",
        _case_limits,
    ),
    "alert_no_link_no_date": (
        "A non-http URL is not linked; a missing date says so; no hits.",
        _case_no_link_no_date,
    ),
    "thread_reply": ("A later article of the story, posted in its thread.", _case_thread_reply),
    "digest": ("Stories since the last digest grouped by rule, copies counted.", _case_digest),
    "burst_notice": ("A rule went over its alert budget.", _case_burst),
    "ops_unhealthy": (
        "A feed failed N polls in a row: the operator's notice, feed text escaped.",
        _case_ops_unhealthy,
    ),
    "alert_feedback_buttons": (
        "With a Slack app (SLACK_APP_TOKEN): the alert ends with Relevant / Not relevant and a "
        "confirmed Mute source button, each carrying the alert's opaque token.",
        _case_feedback_buttons,
    ),
    "alert_feedback_judged": (
        "After clicks (chat.update): the verdicts as a context line above the buttons, the "
        "analysts' names escaped.",
        _case_feedback_judged,
    ),
    "alert_degraded": (
        "The text-only form posted once after invalid_blocks/msg_too_long.",
        _case_degraded,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_payload(name: str) -> None:
    """The built payload is valid Block Kit and equals its golden file."""
    description, build = CASES[name]
    payload = build()
    for block in payload.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
    assert payload_size(payload.blocks) <= 12_000
    document = {"description": description, "payload": payload.as_dict()}
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path} is missing: run with UPDATE_GOLDEN=1 to create it, then review it")
    assert json.loads(path.read_text(encoding="utf-8")) == document


def test_no_stale_golden_files() -> None:
    """Every golden file belongs to a case (renamed cases leave no orphans)."""
    assert {p.stem for p in GOLDEN.glob("*.json")} <= set(CASES)
