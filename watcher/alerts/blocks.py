"""Slack messages (Block Kit plus a mrkdwn `text` fallback) for alerts; pure functions.

* `build_alert`: one article with every rule it hit, highest severity first:
  header (severity + rule names), the headline as a link, outlet and
  publication time (UTC and relative to `now`), a snippet with the matched
  terms in bold, one line per rule (why it fired), the rule ids.
  With `feedback` (a Slack app with Socket Mode), it ends with the analysts'
  buttons and, once someone clicked, their verdicts (`watcher.alerts.feedback`).
* `build_thread_reply`: a later article of an alerted story ("also reported by").
* `build_digest`: the stories since the last digest, grouped by rule.
* `build_burst_notice`: a rule went over its alert budget.
* `build_ops_notice`: for the operator, a source is unhealthy or empty, or
  has recovered (`watcher.store.route_messages` says when each is raised).

Every string from the internet goes through `watcher.alerts.mrkdwn`, and
every Block Kit limit is met by truncating (with "…"), never by failing:
header 150, section text 3,000, 50 blocks, 10 context elements, about
12,000 characters of blocks in all (`msg_blocks_too_long` appears near
13 k), `text` 40,000.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from watcher.alerts.delivery import SlackPayload
from watcher.alerts.feedback import actions_block, verdicts_block
from watcher.alerts.mrkdwn import (
    bold_marked,
    clean,
    code,
    http_url,
    link,
    mrkdwn,
    plain,
    safe_url,
    strip_mentions,
    term_spans,
    truncate,
    truncate_mrkdwn,
    window,
)
from watcher.alerts.timefmt import duration as _duration
from watcher.alerts.timefmt import plural as _plural
from watcher.alerts.timefmt import relative as _relative
from watcher.alerts.timefmt import utc as _utc
from watcher.alerts.timefmt import when as _when
from watcher.log import redact_secrets
from watcher.model import AlertMessage, Feedback, Hit, OpsNotice

__all__ = [
    "SlackPayload",
    "build_alert",
    "build_burst_notice",
    "build_digest",
    "build_ops_notice",
    "build_thread_reply",
    "payload_size",
]

HEADER_LIMIT = 150
SECTION_LIMIT = 3_000
CONTEXT_TEXT_LIMIT = 2_000
MAX_BLOCKS = 50
MAX_CONTEXT_ELEMENTS = 10
BLOCKS_BUDGET = 12_000
TEXT_LIMIT = 40_000
# Shown on alerts whose article text may be cut (extraction status `partial`): the
# analyst should read the page itself before concluding a paragraph is not there.
PARTIAL_NOTE = ":warning: partial text: the article may be longer than what was matched"
SNIPPET_LIMIT = 600  # code points of snippet shown: enough context, short enough to read
TITLE_LIMIT = 300
OUTLET_LIMIT = 100
DIGEST_LINES_PER_RULE = 15
DIGEST_LINK_ROOM = 1_000  # one digest line's link: a longer URL leaves its title unlinked
BUTTON_URL_LIMIT = 3_000  # a button's `url`

_RANK = {"high": 0, "medium": 1, "low": 2}
_EMOJI = {"high": ":red_circle:", "medium": ":large_orange_circle:", "low": ":large_yellow_circle:"}


def build_alert(
    msg: AlertMessage,
    *,
    rule_names: Mapping[str, str],
    now: datetime,
    feedback: Feedback | None = None,
) -> SlackPayload:
    """The Block Kit message for one article and all the rules it matched.

    With `feedback`, the verdicts so far and the feedback buttons come last
    (they are kept whole when the limits cut the rest).
    """
    hits = _ranked(msg.hits)
    severity = hits[0].severity if hits else "alert"
    names = [_name(h.rule_id, rule_names) for h in hits]
    headline, open_button = _headline(msg.url, msg.title)
    if msg.url.strip() and safe_url(msg.url) is None:  # show what we could not link
        headline += f"\n{code(msg.url, 300)}"
    meta = f"{mrkdwn(msg.outlet, OUTLET_LIMIT) or 'unknown outlet'} · {_when(msg.published, now)}"
    if msg.partial:
        meta += f" · {PARTIAL_NOTE}"
    snippet = _snippet(msg, hits)
    ids = _ids_line(hits, msg)

    head = _section(headline)
    if open_button is not None:
        head["accessory"] = open_button
    blocks: list[dict[str, Any]] = [
        _header(f"{_emoji(severity)} {severity.upper()}", names),
        head,
        _context([meta]),
    ]
    if snippet:
        blocks.append(_section(f"> {snippet}"))
    if hits:
        blocks.append(_section(_rules_text(hits, rule_names, msg.title)))
    blocks.append(_context([ids]))

    header_line = severity.upper() + (f" · {', '.join(names)}" if names else "")
    header_line = plain(header_line, HEADER_LIMIT)
    # The fallback text has room for any link (40,000 characters).
    full = f"*{link(msg.url, msg.title, label_limit=TITLE_LIMIT)}*"
    linked = safe_url(msg.url) is not None
    lines = [f"{_emoji(severity)} {mrkdwn(header_line)}", full if linked else headline, meta]
    if snippet:
        lines.append(f"> {snippet}")
    lines.append(ids)
    tail: list[dict[str, Any]] = []
    if feedback is not None:
        verdicts = verdicts_block(feedback)
        if verdicts is not None:
            tail.append(verdicts)
            lines.append(verdicts["elements"][0]["text"])
        tail.append(actions_block(feedback))
    return _finish("\n".join(lines), blocks, tail=tail)


def build_thread_reply(
    msg: AlertMessage, *, rule_names: Mapping[str, str], now: datetime
) -> SlackPayload:
    """A reply in the story's thread: "also reported by <outlet>" with the article's link."""
    outlet = mrkdwn(msg.outlet, OUTLET_LIMIT) or "another outlet"
    room = SECTION_LIMIT - len(outlet) - 60
    linked = link(msg.url, msg.title, label_limit=TITLE_LIMIT, room=room)
    line = f"Also reported by *{outlet}*: {linked}"
    extra = [_when(msg.published, now)]
    if msg.partial:
        extra.append(PARTIAL_NOTE)
    hits = _ranked(msg.hits)
    if hits:
        extra.append(" ".join(f"{code(h.rule_id, 80)}" for h in hits))
    blocks = [_section(f":arrow_right_hook: {line}"), _context([" · ".join(extra)])]
    return _finish(line, blocks)


def build_digest(
    items: Sequence[AlertMessage],
    *,
    rule_names: Mapping[str, str],
    now: datetime,
    since: datetime | None = None,
) -> SlackPayload:
    """One message listing the stories since the last digest, grouped by rule.

    A story appears once per rule (its first article, with a count of further
    reports); rules are ordered by their best severity, then name. What does
    not fit the limits is summarised in a closing "…and N more" line.
    """
    groups: dict[str, dict[int, list[AlertMessage]]] = {}
    severity: dict[str, int] = {}
    for item in items:
        for hit in _ranked(item.hits):
            stories = groups.setdefault(hit.rule_id, {})
            stories.setdefault(item.story_id, []).append(item)
            severity[hit.rule_id] = min(severity.get(hit.rule_id, 9), _rank(hit.severity))
    story_count = len({item.story_id for item in items})
    period = f" since {_utc(since)}" if since is not None else ""
    title = f":newspaper: Digest: {story_count} {_plural(story_count, 'story', 'stories')}{period}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}}
    ]
    text_lines = [mrkdwn(title)]
    order = sorted(groups, key=lambda r: (severity[r], _name(r, rule_names).casefold(), r))
    left_out = 0
    for n, rule_id in enumerate(order):
        section = _section(_digest_rule_text(rule_id, groups[rule_id], rule_names, severity, now))
        if len(blocks) + 2 > MAX_BLOCKS or payload_size([*blocks, section]) > BLOCKS_BUDGET - 400:
            left_out = len(order) - n
            break
        blocks.append(section)
        text_lines.append(section["text"]["text"])
    if left_out:
        hidden = {s for r in order[-left_out:] for s in groups[r]}
        more = (
            f"…and {len(hidden)} more {_plural(len(hidden), 'story', 'stories')} "
            f"in {left_out} more {_plural(left_out, 'rule', 'rules')}"
        )
        blocks.append(_context([more]))
        text_lines.append(more)
    if not items:
        blocks.append(_section("No new stories."))
        text_lines.append("No new stories.")
    return _finish("\n".join(text_lines), blocks)


def build_burst_notice(
    rule_id: str,
    count: int,
    window: timedelta,
    *,
    rule_names: Mapping[str, str] | None = None,
) -> SlackPayload:
    """The one notice posted when a rule goes over its alert budget."""
    name = _name(rule_id, rule_names or {})
    line = (
        f":rotating_light: *Burst:* *{mrkdwn(name, 150)}* ({code(rule_id, 80)}) matched "
        f"{count} {_plural(count, 'story', 'stories')} in the last {_duration(window)}. "
        "Further alerts for this rule go to the next digest."
    )
    return _finish(line, [_section(line)])


_OPS_HEAD = {
    "unhealthy": ":warning: *Feed unhealthy:*",
    "empty": ":warning: *Feed empty:*",
    "recovered": ":white_check_mark: *Feed recovered:*",
    "refilled": ":white_check_mark: *Feed has entries again:*",
}
_OPS_HINT = {
    "unhealthy": "Polling goes on with backoff; a message follows when it answers again.",
    "empty": "The feed may have moved or changed format; check the URL and `watcher sources`.",
}


def build_ops_notice(notice: OpsNotice, *, now: datetime) -> SlackPayload:
    """The operator's message about a source: unhealthy, empty, or back to normal."""
    name = f"*{mrkdwn(notice.source, 150) or 'unnamed source'}*"
    n = notice.count
    since = f"since {_utc(notice.since)} ({_duration(now - notice.since)})" if notice.since else ""
    if notice.reason == "unhealthy":
        what = f"{name} failed {n} {_plural(n, 'poll', 'polls')} in a row, {since}"
    elif notice.reason == "recovered":
        what = f"{name} answers again after {n} failed {_plural(n, 'poll', 'polls')}"
        what += f" (failing {since})" if since else ""
    elif notice.reason == "empty":
        what = f"{name} had no entries in {n} {_plural(n, 'poll', 'polls')} in a row, {since}"
    else:
        what = f"{name} after {n} empty {_plural(n, 'poll', 'polls')}"
        what += f" (empty {since})" if since else ""
    line = f"{_OPS_HEAD.get(notice.reason, ':warning: *Feed:*')} {what.rstrip(', ')}."
    last = []
    if notice.reason in ("unhealthy", "recovered") and (notice.outcome or notice.error):
        outcome = f"{code(notice.outcome, 40)}" if notice.outcome else ""
        error = mrkdwn(redact_secrets(notice.error or ""), 500)
        last.append(f"Last error: {' '.join(p for p in (outcome, error) if p)}")
    # A source URL may carry credentials (user-info, `?api_key=`): never post them.
    shown = redact_secrets(notice.url)
    url = link(shown, shown, label_limit=300, room=1_500) if notice.url else ""
    context = [url, _OPS_HINT.get(notice.reason, ""), f"ops notice {notice.id}"]
    blocks = [_section("\n".join([line, *last])), _context([c for c in context if c])]
    return _finish("\n".join([line, *last, url]).strip(), blocks)


def payload_size(blocks: Sequence[Mapping[str, Any]]) -> int:
    """Characters of the blocks as JSON: what Slack's `msg_blocks_too_long` limit counts."""
    return len(json.dumps(list(blocks), ensure_ascii=False, separators=(",", ":")))


# --- pieces ---------------------------------------------------------------


def _ranked(hits: Iterable[Hit]) -> list[Hit]:
    """Hits with one per rule, highest severity first, then highest score, then rule id."""
    best: dict[str, Hit] = {}
    for hit in hits:
        kept = best.get(hit.rule_id)
        if kept is None or (_rank(hit.severity), -hit.score) < (_rank(kept.severity), -kept.score):
            best[hit.rule_id] = hit
    return sorted(best.values(), key=lambda h: (_rank(h.severity), -h.score, h.rule_id))


def _rank(severity: str) -> int:
    return _RANK.get(severity.lower(), len(_RANK))


def _emoji(severity: str) -> str:
    return _EMOJI.get(severity.lower(), ":white_circle:")


def _name(rule_id: str, rule_names: Mapping[str, str]) -> str:
    return rule_names.get(rule_id) or rule_id


def _header(prefix: str, names: Sequence[str]) -> dict[str, Any]:
    """A header of `prefix · ` + as many names as fit in 150, then "(+N more)"."""
    if not names:
        return {"type": "header", "text": {"type": "plain_text", "text": prefix, "emoji": True}}
    prefix += " · "
    shown: list[str] = []
    for i, name in enumerate(names):
        rest = len(names) - i - 1
        candidate = plain(prefix + ", ".join([*shown, plain(name)]))
        suffix = f" (+{rest} more)" if rest else ""
        if len(candidate) + len(suffix) > HEADER_LIMIT and shown:
            break
        shown.append(plain(name))
    rest = len(names) - len(shown)
    text = plain(prefix + ", ".join(shown))
    suffix = f" (+{rest} more)" if rest else ""
    text = truncate(text, HEADER_LIMIT - len(suffix)) + suffix
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _headline(url: str, title: str) -> tuple[str, dict[str, Any] | None]:
    """The bold headline and, for a URL too long to link inline, an "Open" button.

    The headline always shows: a long URL shortens the link's label (the
    full URL stays the target); a URL that leaves no room for a label in the
    section's 3,000 characters moves to a button accessory (its `url` takes
    up to 3,000) beside the unlinked title. A URL longer still is only in the
    message's fallback text.
    """
    inline = link(url, title, label_limit=TITLE_LIMIT, room=SECTION_LIMIT - 2)
    if inline.startswith("<") or safe_url(url) is None:
        return f"*{inline}*", None
    target = http_url(url)
    if target is None or len(target) > BUTTON_URL_LIMIT:
        return f"*{inline}*", None
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open article", "emoji": False},
        "url": target,
        "action_id": "open_article",
    }
    return f"*{inline}*", button


def _section(text: str) -> dict[str, Any]:
    # verbatim: Slack must not turn words like "#general" or "@here" into links.
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate_mrkdwn(text, SECTION_LIMIT), "verbatim": True},
    }


def _context(texts: Sequence[str]) -> dict[str, Any]:
    elements = [
        {"type": "mrkdwn", "text": truncate_mrkdwn(t, CONTEXT_TEXT_LIMIT), "verbatim": True}
        for t in texts[:MAX_CONTEXT_ELEMENTS]
        if t
    ]
    return {"type": "context", "elements": elements}


def _snippet(msg: AlertMessage, hits: Sequence[Hit]) -> str:
    """The strongest hit's snippet, escaped, with every hit's terms in bold."""
    source = next((h.snippet for h in hits if h.snippet.strip()), "")
    if not source:
        return ""
    text = clean(strip_mentions(clean(source, single_line=True)), single_line=True)
    spans = term_spans(text, _terms(hits, msg.title))
    text, spans = window(text, spans, SNIPPET_LIMIT)
    return bold_marked(text, spans)


def _terms(hits: Iterable[Hit], title: str) -> set[str]:
    """Query terms plus, for title matches, the words as the title spells them."""
    terms: set[str] = set()
    for hit in hits:
        for m in hit.matches:
            terms.add(m.term)
            if m.field == "title" and 0 <= m.start < m.end <= len(title):
                terms.add(title[m.start : m.end])
    return terms


def _matched_words(hit: Hit) -> list[str]:
    """The distinct terms of a hit, in first-seen order."""
    seen: dict[str, None] = {}
    for m in hit.matches:
        seen.setdefault(m.term.strip(), None)
    return [t for t in seen if t]


def _rules_text(hits: Sequence[Hit], rule_names: Mapping[str, str], title: str) -> str:
    lines = []
    for hit in hits:
        words = ", ".join(mrkdwn(w, 60) for w in _matched_words(hit)[:12])
        line = (
            f"{_emoji(hit.severity)} *{mrkdwn(_name(hit.rule_id, rule_names), 150)}* · "
            f"{mrkdwn(hit.severity, 20)} · score {hit.score:.2f}"
        )
        if words:
            line += f" · matched: {words}"
        lines.append(truncate_mrkdwn(line, 400))
    return _fit_lines(lines, SECTION_LIMIT, "rules")


def _ids_line(hits: Sequence[Hit], msg: AlertMessage) -> str:
    ids = " ".join(f"{code(h.rule_id, 80)}" for h in hits) or "no rule"
    return f"Rules: {ids} · alert {msg.alert_id} · story {msg.story_id}"


def _digest_rule_text(
    rule_id: str,
    stories: Mapping[int, Sequence[AlertMessage]],
    rule_names: Mapping[str, str],
    severity: Mapping[str, int],
    now: datetime,
) -> str:
    level = next((s for s, r in _RANK.items() if r == severity[rule_id]), "info")
    head = (
        f"{_emoji(level)} *{mrkdwn(_name(rule_id, rule_names), 150)}* ({code(rule_id, 80)})"
        f" · {len(stories)} {_plural(len(stories), 'story', 'stories')}"
    )
    firsts = sorted(
        (articles[0] for articles in stories.values()),
        key=lambda a: (a.published is None, -(a.published or now).timestamp(), a.story_id),
    )
    lines = []
    for article in firsts:
        reports = len(stories[article.story_id])
        line = (
            f"• {link(article.url, article.title, label_limit=150, room=DIGEST_LINK_ROOM)} — "
            f"{mrkdwn(article.outlet, OUTLET_LIMIT) or 'unknown outlet'}, "
            f"{_relative(article.published, now)}"
        )
        if reports > 1:
            line += f" (+{reports - 1} more {_plural(reports - 1, 'report', 'reports')})"
        lines.append(line)
    body = _fit_lines(lines[:DIGEST_LINES_PER_RULE], SECTION_LIMIT - len(head) - 40, "stories")
    hidden = len(lines) - DIGEST_LINES_PER_RULE
    if hidden > 0:
        body += f"\n…and {hidden} more {_plural(hidden, 'story', 'stories')}"
    return f"{head}\n{body}"


def _fit_lines(lines: Sequence[str], limit: int, noun: str) -> str:
    """Whole lines joined while they fit in `limit`, then "…and N more <noun>"."""
    kept: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        reserve = 0 if i == len(lines) - 1 else 30
        if size + len(line) + 1 + reserve > limit:
            kept.append(f"…and {len(lines) - i} more {noun}")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def _finish(
    text: str, blocks: list[dict[str, Any]], *, tail: Sequence[dict[str, Any]] = ()
) -> SlackPayload:
    """Enforce the message-wide limits as a last resort (builders aim to stay inside).

    `tail` (the feedback blocks) is appended whole after the rest was cut to
    leave room for it.
    """
    blocks = blocks[: MAX_BLOCKS - len(tail)]
    budget = BLOCKS_BUDGET - (payload_size(tail) + 1 if tail else 0)
    while payload_size(blocks) > budget:
        sections = [b for b in blocks if b["type"] == "section"]
        longest = max(sections, key=lambda b: len(b["text"]["text"]), default=None)
        excess = payload_size(blocks) - budget
        if longest is None or len(longest["text"]["text"]) <= 200:
            blocks.pop(-2 if len(blocks) > 2 else -1)
            continue
        target = max(200, len(longest["text"]["text"]) - excess - 50)
        longest["text"]["text"] = truncate_mrkdwn(longest["text"]["text"], target)
    return SlackPayload(text=truncate_mrkdwn(text, TEXT_LIMIT), blocks=[*blocks, *tail])
