"""The console channel: the same alert content as readable text, for runs without Slack.

`ConsoleSender` renders a `SlackPayload`'s blocks (or its text when it has
none) back from Slack mrkdwn: links become `title <url>`, bold terms become
`**term**` (ANSI bold on a terminal), entities are unescaped. It always
answers SENT with a synthetic, increasing `ts`, so threads work as in Slack:
a reply (`thread_ts` given) is printed indented under a "↳".
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from watcher.alerts.delivery import DeliveryOutcome, SendResult, SlackPayload

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_SHORTCODE = re.compile(
    r":(red_circle|large_orange_circle|large_yellow_circle|white_circle|"
    r"arrow_right_hook|newspaper|rotating_light|warning|white_check_mark):\s?"
)
_RULE = "─" * 72
_ANSI_BOLD, _ANSI_DIM, _ANSI_RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


class ConsoleSender:
    """Prints alerts to `stream` (stdout by default); ANSI bold only on a terminal."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        color: bool | None = None,
        start: int | None = None,
        json_lines: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        tty = bool(isatty and isatty())
        self.color = color if color is not None else tty
        # Off a terminal (a container, a pipe) stdout carries JSON log lines:
        # an alert is then one JSON object too, never free text in the stream.
        self.json_lines = json_lines if json_lines is not None else not tty
        self._epoch = int(time.time()) if start is None else start
        self._count = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ConsoleSender(stream={getattr(self.stream, 'name', '?')!r})"

    def send(self, payload: SlackPayload, *, channel: str, thread_ts: str | None) -> SendResult:
        """Print the message and answer SENT with a synthetic `ts`."""
        lines = self.render(payload)
        with self._lock:
            self._count += 1
            ts = f"{self._epoch}.{self._count:06d}"
            if self.json_lines:
                record = {
                    "event": "alert",
                    "channel": channel,
                    "ts": ts,
                    "thread_ts": thread_ts,
                    "text": "\n".join(lines),
                    "timestamp": datetime.now(UTC).isoformat(),
                }
                self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
                self.stream.flush()
                return SendResult(DeliveryOutcome.SENT, channel=channel, ts=ts)
            if thread_ts is None:
                out = [_RULE, *lines]
            else:
                out = [("  ↳ " if i == 0 else "    ") + line for i, line in enumerate(lines)]
            self.stream.write("\n".join(out) + "\n")
            self.stream.flush()
        return SendResult(DeliveryOutcome.SENT, channel=channel, ts=ts)

    def render(self, payload: SlackPayload) -> list[str]:
        """The payload as plain text lines."""
        if not payload.blocks:
            return self._text(payload.text).splitlines()
        lines: list[str] = []
        for block in payload.blocks:
            lines.extend(self._block(block))
        return lines

    def _block(self, block: dict[str, Any]) -> list[str]:
        kind = block.get("type")
        if kind == "header":
            text = _SHORTCODE.sub("", str(block["text"]["text"]))
            return [self._style(text, _ANSI_BOLD, "")]
        if kind == "section":
            return self._text(str(block["text"]["text"])).splitlines()
        if kind == "context":
            parts = [self._text(str(e.get("text", ""))) for e in block.get("elements", [])]
            return [self._style(" · ".join(p for p in parts if p), _ANSI_DIM, "")]
        return []

    def _text(self, text: str) -> str:
        """Slack mrkdwn to terminal text."""
        text = _LINK.sub(_unlink, _SHORTCODE.sub("", text))
        # Bold first: the zero-width spaces are what separate `*` from Japanese text.
        text = _BOLD.sub(lambda m: self._style(m.group(1), _ANSI_BOLD, "**"), text)
        text = text.replace("\u200b", "")
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def _style(self, text: str, ansi: str, plain_marker: str) -> str:
        if self.color:
            return f"{ansi}{text}{_ANSI_RESET}"
        return f"{plain_marker}{text}{plain_marker}"


def _unlink(m: re.Match[str]) -> str:
    url = m.group(1)  # entities are unescaped with the rest of the text
    label = m.group(2)
    return f"{label} <{url}>" if label else url
