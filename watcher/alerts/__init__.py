"""Alerts: what a Slack message says and how it is sent, with no database and no config.

Pure builders (Block Kit payloads for alerts, digests, burst and ops notices;
mrkdwn escaping and truncation; the alert budget's decision; digest timing)
and the senders (slack-sdk's Web API client or an incoming webhook, and the
console), which turn every answer of the outside world into a `SendResult`.
The outbox loop that reads pending alerts and records what happened is the
pipeline's (`watcher.pipeline.dispatch`).
"""
