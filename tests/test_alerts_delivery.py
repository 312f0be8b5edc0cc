"""Delivery outcomes: the one classification of Slack errors, Retry-After, the degraded retry."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from watcher.alerts.delivery import (
    DEGRADED_TEXT_LIMIT,
    DeliveryOutcome,
    SendResult,
    SlackPayload,
    classify_error,
    parse_retry_after,
    send_with_fallback,
)

R, ROUTE, MSG, AUTH = (
    DeliveryOutcome.RETRY,
    DeliveryOutcome.DEAD_ROUTE,
    DeliveryOutcome.DEAD_MESSAGE,
    DeliveryOutcome.STOP_AUTH,
)


@pytest.mark.parametrize(
    ("error", "status", "outcome"),
    [
        ("ratelimited", 429, R),
        (None, 429, R),
        ("internal_error", 200, R),
        ("fatal_error", 200, R),
        ("service_unavailable", 503, R),
        ("http_500", 500, R),
        ("http_502", 502, R),
        ("timeout", None, R),
        ("connection_error", None, R),
        ("some_new_error_code", 200, R),
        ("channel_not_found", 200, ROUTE),
        ("not_in_channel", 200, ROUTE),
        ("is_archived", 200, ROUTE),
        ("channel_is_archived", 410, ROUTE),
        ("channel_not_found", 404, ROUTE),
        ("action_prohibited", 403, ROUTE),
        ("msg_too_long", 200, MSG),
        ("msg_blocks_too_long", 200, MSG),
        ("invalid_blocks", 200, MSG),
        ("invalid_payload", 400, MSG),
        ("no_text", 200, MSG),
        ("invalid_auth", 200, AUTH),
        ("not_authed", 200, AUTH),
        ("account_inactive", 200, AUTH),
        ("token_revoked", 200, AUTH),
        ("missing_scope", 200, AUTH),
        ("invalid_token", 403, AUTH),
        ("no_service", 404, AUTH),
        ("http_401", 401, AUTH),
        ("  Invalid_Auth ", None, AUTH),
    ],
)
def test_classify_error(error: str | None, status: int | None, outcome: DeliveryOutcome) -> None:
    """Each Slack error code (and bare HTTP status) maps to the outcome the dispatcher acts on."""
    assert classify_error(error, status=status) is outcome


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 1 ", 1.0),
        ("0.5", 0.5),
        ("-3", None),
        ("soon", None),
        ("nan", None),
        ("1000000000", 3600.0),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After seconds are parsed, capped at an hour; bad values give None."""
    assert parse_retry_after(value) == expected


PAYLOAD = SlackPayload(text="*<https://a.org|A>*\n" + "x" * 5_000, blocks=[{"type": "divider"}])


def _poster(
    *answers: SendResult,
) -> tuple[list[SlackPayload], Callable[[SlackPayload], SendResult]]:
    sent: list[SlackPayload] = []
    queue = list(answers)

    def post(payload: SlackPayload) -> SendResult:
        sent.append(payload)
        return queue.pop(0)

    return sent, post


def test_degraded_form_is_text_only_and_short() -> None:
    """The degraded form drops blocks and cuts the text to its limit, keeping the link."""
    degraded = PAYLOAD.degraded()
    assert degraded.blocks == []
    assert len(degraded.text) == DEGRADED_TEXT_LIMIT
    assert degraded.text.startswith("*<https://a.org|A>*")


def test_fallback_retries_once_with_degraded_form() -> None:
    """After invalid_blocks the text-only form is posted once, and its result is returned."""
    sent, post = _poster(
        SendResult(MSG, "#a", error="invalid_blocks"),
        SendResult(DeliveryOutcome.SENT, "#a", ts="1.1"),
    )
    result = send_with_fallback(post, PAYLOAD)
    assert result == SendResult(DeliveryOutcome.SENT, "#a", ts="1.1", degraded=True)
    assert [p.blocks for p in sent] == [PAYLOAD.blocks, []]


def test_fallback_gives_up_after_second_refusal() -> None:
    """A message refused again in degraded form is DEAD_MESSAGE, with no third attempt."""
    sent, post = _poster(
        SendResult(MSG, "#a", error="msg_too_long"), SendResult(MSG, "#a", error="msg_too_long")
    )
    result = send_with_fallback(post, PAYLOAD)
    assert result.outcome is MSG
    assert result.degraded
    assert len(sent) == 2


@pytest.mark.parametrize(
    "first",
    [
        SendResult(MSG, "#a", error="no_text"),
        SendResult(ROUTE, "#a", error="channel_not_found"),
        SendResult(R, "#a", error="ratelimited", retry_after=3.0),
        SendResult(DeliveryOutcome.SENT, "#a", ts="1.2"),
    ],
)
def test_fallback_only_for_degradable_errors(first: SendResult) -> None:
    """Other outcomes are returned as they are, after a single attempt."""
    sent, post = _poster(first)
    assert send_with_fallback(post, PAYLOAD) == first
    assert len(sent) == 1


def test_fallback_not_repeated_for_text_only_payload() -> None:
    """A payload that is already in degraded form is not sent twice."""
    small = SlackPayload(text="short")
    sent, post = _poster(SendResult(MSG, "#a", error="msg_too_long"))
    assert send_with_fallback(post, small).outcome is MSG
    assert len(sent) == 1
