"""What every alert channel shares: the payload, the `Sender` protocol, results.

A channel (Slack bot, Slack webhook, console) turns a `SlackPayload` into a
posted message and answers with a `SendResult`. Expected outcomes of the
outside world (429, 5xx, timeouts, `channel_not_found`, a revoked token) are
values of `DeliveryOutcome`, never exceptions, so the outbox dispatcher can
decide what to do with each alert row:

    SENT          mark the row sent, store `ts` (thread parent for later replies)
    RETRY         keep the row pending; wait `retry_after` (when given) or back off;
                  the message may already have been posted (timeouts, `internal_error`)
    DEAD_ROUTE    permanent for this channel: dead-letter its rows, go on with others
    DEAD_MESSAGE  permanent for this message (after one degraded retry): dead-letter it
    STOP_AUTH     global: stop sending to every channel, keep the queue, report unhealthy

`classify_error` is the one place that maps a Slack error code (Web API
`ok:false` error, or an incoming webhook's plain-text error) to an outcome.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from watcher.alerts.mrkdwn import truncate_mrkdwn

# Past this many characters Slack rejects a text-only message less often than a
# blocks message; the degraded form is kept well inside it so the link survives.
DEGRADED_TEXT_LIMIT = 3_000


class DeliveryOutcome(enum.StrEnum):
    """The one classification of a delivery attempt (see the module docstring)."""

    SENT = "sent"
    RETRY = "retry"
    DEAD_ROUTE = "dead_route"
    DEAD_MESSAGE = "dead_message"
    STOP_AUTH = "stop_auth"


@dataclass(frozen=True)
class SlackPayload:
    """A message ready for `chat.postMessage`: mrkdwn `text` fallback plus Block Kit.

    `text` is what notifications, screen readers and the degraded form show;
    it always contains the article link. `blocks` are plain dicts, exactly as
    sent on the wire.
    """

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    unfurl_links: bool = False
    unfurl_media: bool = False

    def degraded(self) -> SlackPayload:
        """The text-only form tried once after `invalid_blocks`/`msg_too_long`."""
        return replace(self, text=truncate_mrkdwn(self.text, DEGRADED_TEXT_LIMIT), blocks=[])

    def as_dict(self) -> dict[str, Any]:
        """The JSON body fields (without channel/thread), e.g. for golden files."""
        return {
            "text": self.text,
            "blocks": self.blocks,
            "unfurl_links": self.unfurl_links,
            "unfurl_media": self.unfurl_media,
        }


@dataclass(frozen=True)
class SendResult:
    """What happened to one send: the outcome plus what the dispatcher records.

    `channel` is the channel as Slack reported it (an id like `C123`) when it
    answered, else the channel asked for. `ts` is the message timestamp (the
    thread parent for replies); webhooks have none. `error` is a short code or
    reason, never containing a secret. `degraded` says the text-only fallback
    was what got posted (or refused).
    """

    outcome: DeliveryOutcome
    channel: str
    ts: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds Slack asked us to wait (429)
    degraded: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is DeliveryOutcome.SENT


class Sender(Protocol):
    """A delivery channel. `send` never raises for outcomes of the outside world."""

    def send(self, payload: SlackPayload, *, channel: str, thread_ts: str | None) -> SendResult:
        """Post `payload` to `channel` (in the thread of `thread_ts` when given)."""
        ...


# Slack error codes by what they mean for us. Sources: the chat.postMessage
# reference ("Errors" and "Common errors"), and the incoming-webhook error
# list (plain-text bodies such as `no_service`, `channel_is_archived`).
_STOP_AUTH = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "not_allowed_token_type",
        "no_permission",
        "access_denied",
        "org_login_required",
        "two_factor_setup_required",
        "enterprise_is_restricted",
        "team_disabled",
        "method_deprecated",
        "deprecated_endpoint",
        # incoming webhooks: the hook was removed or its token is bad
        "invalid_token",
        "no_service",
        "no_service_id",
        "no_team",
        "team_not_found",
    }
)
_DEAD_ROUTE = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_non_threadable_channel",
        "restricted_action_thread_only_channel",
        "messages_tab_disabled",
        "team_access_not_granted",
        "ekm_access_denied",
        "action_prohibited",
        "posting_to_general_channel_denied",
        "user_not_found",
    }
)
_DEAD_MESSAGE = frozenset(
    {
        "msg_too_long",
        "msg_blocks_too_long",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_payload",
        "no_text",
        "too_many_attachments",
        "invalid_attachments",
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_array_arg",
        "invalid_charset",
        "invalid_form_data",
        "invalid_post_type",
        "missing_post_type",
        "invalid_json",
        "json_not_object",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "cannot_reply_to_message",
        "restricted_action_thread_locked",
        "duplicate_message_not_found",
        "too_many_contact_cards",
    }
)
_RETRY = frozenset(
    {
        "internal_error",  # "some aspect of the operation may have succeeded"
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "ratelimited",
        "rate_limited",
        "message_limit_exceeded",
        "accesslimited",
        "team_added_to_org",
        "timeout",
        "connection_error",
    }
)

_BY_CODE = (
    (_STOP_AUTH, DeliveryOutcome.STOP_AUTH),
    (_DEAD_ROUTE, DeliveryOutcome.DEAD_ROUTE),
    (_DEAD_MESSAGE, DeliveryOutcome.DEAD_MESSAGE),
    (_RETRY, DeliveryOutcome.RETRY),
)

#: Errors after which the dispatcher (or the sender) tries once more, text-only.
DEGRADABLE_ERRORS = frozenset(
    {
        "msg_too_long",
        "msg_blocks_too_long",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_payload",
    }
)


def classify_error(error: str | None, *, status: int | None = None) -> DeliveryOutcome:
    """Map a Slack error code and/or HTTP status to the outcome the dispatcher acts on.

    A known code wins over the status (Slack answers `invalid_auth` with 200
    and webhooks answer `channel_not_found` with 404). An unknown code fails
    open as RETRY (at-least-once: the dispatcher's attempt cap turns a
    permanent unknown into a dead letter with an ops signal), except 401/403,
    which mean the credentials are wrong.
    """
    code = (error or "").strip().lower()
    if status == 429:
        return DeliveryOutcome.RETRY
    for codes, outcome in _BY_CODE:
        if code in codes:
            return outcome
    if status in (401, 403):
        return DeliveryOutcome.STOP_AUTH
    return DeliveryOutcome.RETRY


def parse_retry_after(value: str | None, *, cap: float = 3_600.0) -> float | None:
    """Seconds from a `Retry-After` header (Slack sends integer seconds); None if unusable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, cap)


def send_with_fallback(
    post: Callable[[SlackPayload], SendResult], payload: SlackPayload
) -> SendResult:
    """Post `payload`; if Slack refuses its blocks or length, post the text-only form once.

    The second answer is the result (marked `degraded`), so a message that is
    refused twice ends as DEAD_MESSAGE and one that fails transiently the
    second time stays RETRY.
    """
    first = post(payload)
    if first.outcome is not DeliveryOutcome.DEAD_MESSAGE or first.error not in DEGRADABLE_ERRORS:
        return first
    fallback = payload.degraded()
    if fallback == payload:
        return first
    return replace(post(fallback), degraded=True)
