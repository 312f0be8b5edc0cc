"""The analysts' feedback on instant alerts: the buttons' blocks and reading their clicks; pure.

* `actions_block(feedback)`: an `actions` block with "Relevant" and "Not
  relevant" buttons (`action_id`s `feedback_relevant` and
  `feedback_not_relevant`) and, optionally, "Mute source" with a
  confirmation dialog (`mute_source`). Every button's `value` is the
  alert's opaque feedback token, so Slack never sees a database id.
* `verdicts_block(feedback)`: the context line shown once someone clicked,
  e.g. "Not relevant — @alice · Relevant — @bob".
* `parse_interaction(payload)`: the `Click`s of a Socket Mode `interactive`
  envelope's payload (a `block_actions` payload); anything else, or a
  malformed one, gives no clicks.

The blocks validate with slack-sdk's Block Kit models (tests hold it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from watcher.alerts.delivery import SendResult, SlackPayload
from watcher.alerts.mrkdwn import mrkdwn
from watcher.model import Click, Feedback, FeedbackAction, Verdict

__all__ = [
    "VERDICT_LABEL",
    "MessageUpdater",
    "actions_block",
    "parse_interaction",
    "verdicts_block",
]

BLOCK_ID = "watcher_feedback"  # the actions block's id: tells our buttons from others
VERDICT_LABEL = {Verdict.RELEVANT: "Relevant", Verdict.NOT_RELEVANT: "Not relevant"}
MAX_VERDICTS_SHOWN = 10  # analysts named on the line; more are counted
_TOKEN_LIMIT = 2000  # Slack's limit for a button value


class MessageUpdater(Protocol):
    """Replaces a posted message (`SlackBotSender.update`); never raises for Slack's answers."""

    def update(self, payload: SlackPayload, *, channel: str, ts: str) -> SendResult:
        """`chat.update` of the message `ts` in `channel`."""
        ...


def actions_block(feedback: Feedback) -> dict[str, Any]:
    """The buttons under an instant alert."""
    value = feedback.token[:_TOKEN_LIMIT]
    elements: list[dict[str, Any]] = [
        _button(FeedbackAction.RELEVANT, ":white_check_mark: Relevant", value, style="primary"),
        _button(FeedbackAction.NOT_RELEVANT, ":x: Not relevant", value),
    ]
    if feedback.mute_button:
        mute = _button(FeedbackAction.MUTE_SOURCE, ":mute: Mute source", value, style="danger")
        mute["confirm"] = {
            "title": {"type": "plain_text", "text": "Mute this source?"},
            "text": {
                "type": "mrkdwn",
                "text": "Its alerts will go to the channel's digest instead of being posted "
                "one by one, until the operator runs `watcher sources unmute`.",
            },
            "confirm": {"type": "plain_text", "text": "Mute"},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger",
        }
        elements.append(mute)
    return {"type": "actions", "block_id": BLOCK_ID, "elements": elements}


def verdicts_block(feedback: Feedback) -> dict[str, Any] | None:
    """ "Not relevant — @alice · Relevant — @bob" as a context block; None before any click."""
    if not feedback.verdicts:
        return None
    shown = feedback.verdicts[:MAX_VERDICTS_SHOWN]
    parts = [f"{VERDICT_LABEL[v]} — @{mrkdwn(name, 80) or 'someone'}" for v, name in shown]
    rest = len(feedback.verdicts) - len(shown)
    if rest:
        parts.append(f"and {rest} more")
    text = " · ".join(parts)
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


def parse_interaction(payload: Mapping[str, Any], *, envelope_id: str = "") -> list[Click]:
    """The clicks on our buttons in a `block_actions` payload (other actions are ignored)."""
    if payload.get("type") != "block_actions":
        return []
    user = payload.get("user")
    if not isinstance(user, Mapping) or not isinstance(user.get("id"), str):
        return []
    name = user.get("username") or user.get("name") or user["id"]
    container = _mapping(payload.get("container"))
    channel_id = _text(_mapping(payload.get("channel")), "id") or _text(container, "channel_id")
    message_ts = _text(container, "message_ts")
    clicks = []
    for action in payload.get("actions") or []:
        if not isinstance(action, Mapping):
            continue
        try:
            kind = FeedbackAction(str(action.get("action_id")))
        except ValueError:
            continue
        token = action.get("value")
        if not isinstance(token, str) or not token:
            continue
        clicks.append(
            Click(
                action=kind,
                token=token,
                analyst_id=user["id"],
                analyst_name=str(name),
                clicked_at=_action_time(action.get("action_ts")),
                envelope_id=envelope_id,
                channel=channel_id,
                message_ts=message_ts,
            )
        )
    return clicks


def _button(action: FeedbackAction, text: str, value: str, *, style: str = "") -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action.value,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) and value else None


def _action_time(value: object) -> datetime:
    """Slack's `action_ts` ("1700000000.123456") as a UTC time; now when it is missing."""
    try:
        return datetime.fromtimestamp(float(str(value)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)
