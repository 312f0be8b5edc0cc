"""Prometheus metrics: one registry, the metric objects, and small recording calls.

The pipeline, the dispatcher and the daemon call the `record_*` functions
below (one line each at the point where the thing happens); `/metrics`
renders `METRICS.registry`. Gauges that describe stored state (alerts by
state, sources due) are read from the database at scrape time by
`watcher.daemon.scrape`, so they are right even after a restart.

Metrics (the names as scraped; counters get the `_total` suffix):

``watcher_fetches_total{outcome}``
    Source documents (feeds, listing pages, sitemaps) fetched, by outcome:
    ok, not_modified, http_error, rate_limited, timeout, too_large, blocked,
    too_many_redirects, connection_error, not_a_feed, parse_error. The
    conditional-GET hit ratio is
    ``rate(watcher_fetches_total{outcome="not_modified"}[1h]) /
    rate(watcher_fetches_total[1h])``.
``watcher_fetch_seconds``
    Histogram of the time one source-document fetch took (redirects and
    retries included).
``watcher_article_seconds{extraction}``
    Histogram of the time one new article took from its page fetch through
    extraction and matching, labelled with the extraction status (ok,
    skipped, too_short, failed, blocked, unreachable, no_link). Extraction
    dominates it for `ok` articles.
``watcher_articles_stored_total``
    New articles written to the database.
``watcher_hits_total{rule}``
    Stored hits per rule id.
``watcher_alerts{state}``
    Alert outbox rows by state (pending, sent, failed, dead), read from the
    database. A growing `pending` means delivery is behind or stopped.
``watcher_deliveries_total{outcome}``
    Delivery attempts by outcome: sent, retry, dead_route, dead_message,
    stop_auth.
``watcher_delivery_errors_total{code}``
    Failed delivery attempts by Slack error code (`ratelimited`,
    `channel_not_found`, `invalid_auth`, `http_503`, `timeout`, ...).
``watcher_delivery_stopped``
    1 while delivery is stopped by an authentication error (token revoked,
    webhook removed): nothing is sent until the operator fixes it.
``watcher_sources_due``
    Backlog: enabled sources whose next poll time has come but that have
    not been polled yet, read from the database. Persistently above zero
    means cycles cannot keep up with the configured intervals.
``watcher_cycles_total{result}``
    Poll cycles by result: ok, failed (raised), timeout (at least one
    source ran out of its time and was recorded as failing).
``watcher_cycle_seconds``
    Histogram of the duration of poll cycles that polled at least one source.
``watcher_last_successful_cycle_timestamp_seconds``
    Unix time at which the last poll cycle completed. Alert on
    ``time() - watcher_last_successful_cycle_timestamp_seconds > 1800``.
``watcher_reloads_total{what,result}``
    Hot reloads of `rules` or `config`, `result` ok or rejected (an invalid
    new version; the last good one keeps running).
``watcher_rules_loaded``
    Rules currently in force.
``watcher_job_failures_total{job}``
    Scheduled jobs (poll, dispatch, reload, retention) that raised; the
    daemon keeps running and the log has the traceback.
``watcher_retention_pruned_articles_total``
    Articles whose text and summary were removed by retention.
``watcher_extraction_worker_memory_bytes``
    Private memory of the largest extraction worker at the last reading
    (every 50 pages). The pool replaces its workers when one passes
    `recycle_mb` (200 MB); a steady rise towards it means a leak.
``watcher_extraction_pool_replacements_total{reason}``
    Extraction worker pools replaced, by reason: memory (a worker past its
    ceiling), pages (the page backstop), deadline (a page past its hard
    deadline), crash (a worker died).
``watcher_database_up``
    1 when the database answered the scrape's queries, else 0.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from watcher.log import redact_secrets
from watcher.model import ArticleRecord, FetchResult

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0)
_CYCLE_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
_CODE = re.compile(r"[a-z0-9_]{1,48}")


class Metrics:
    """The metric objects of one process, in their own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.fetches = Counter(
            "watcher_fetches", "Source documents fetched, by outcome.", ["outcome"], registry=r
        )
        self.fetch_seconds = Histogram(
            "watcher_fetch_seconds",
            "Time to fetch one source document.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.article_seconds = Histogram(
            "watcher_article_seconds",
            "Time from page fetch through extraction and matching for one new article.",
            ["extraction"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.articles_stored = Counter(
            "watcher_articles_stored", "New articles written to the database.", registry=r
        )
        self.hits = Counter("watcher_hits", "Stored hits per rule.", ["rule"], registry=r)
        self.deliveries = Counter(
            "watcher_deliveries", "Alert delivery attempts by outcome.", ["outcome"], registry=r
        )
        self.delivery_errors = Counter(
            "watcher_delivery_errors",
            "Failed delivery attempts by error code.",
            ["code"],
            registry=r,
        )
        self.delivery_stopped = Gauge(
            "watcher_delivery_stopped",
            "1 while delivery is stopped by an auth error.",
            registry=r,
        )
        self.cycles = Counter(
            "watcher_cycles",
            "Poll cycles by result (ok, failed, timeout).",
            ["result"],
            registry=r,
        )
        self.cycle_seconds = Histogram(
            "watcher_cycle_seconds",
            "Duration of poll cycles that polled sources.",
            buckets=_CYCLE_BUCKETS,
            registry=r,
        )
        self.last_cycle = Gauge(
            "watcher_last_successful_cycle_timestamp_seconds",
            "Unix time the last poll cycle completed.",
            registry=r,
        )
        self.reloads = Counter(
            "watcher_reloads",
            "Hot reloads by what (rules, config) and result (ok, rejected).",
            ["what", "result"],
            registry=r,
        )
        self.rules_loaded = Gauge("watcher_rules_loaded", "Rules in force.", registry=r)
        self.job_failures = Counter(
            "watcher_job_failures", "Scheduled jobs that raised.", ["job"], registry=r
        )
        self.retention_pruned = Counter(
            "watcher_retention_pruned_articles",
            "Articles whose text and summary retention removed.",
            registry=r,
        )
        self.worker_memory = Gauge(
            "watcher_extraction_worker_memory_bytes",
            "Private memory of the largest extraction worker at the last reading.",
            registry=r,
        )
        self.pool_replacements = Counter(
            "watcher_extraction_pool_replacements",
            "Extraction worker pools replaced, by reason (memory, pages, deadline, crash).",
            ["reason"],
            registry=r,
        )


METRICS = Metrics()


def error_code(error: str | None) -> str:
    """A bounded label from a delivery error: the leading Slack-style code, else `other`."""
    m = _CODE.match((error or "").strip().lower())
    return m.group(0) if m else "other"


def label(value: object) -> str:
    """A label value as exported: its text with any secret redacted (`watcher.log`)."""
    return redact_secrets(str(value))


# --- recording calls (one line at each place the event happens) --------------------------


def record_fetch(result: FetchResult, metrics: Metrics = METRICS) -> None:
    """A source document was fetched (any outcome)."""
    metrics.fetches.labels(label(result.outcome)).inc()
    metrics.fetch_seconds.observe(max(result.elapsed, 0.0))


async def timed_article(
    work: Awaitable[ArticleRecord], metrics: Metrics = METRICS
) -> ArticleRecord:
    """Await one entry's processing and record how long it took, by extraction status."""
    start = time.perf_counter()
    record = await work
    if not record.existing:
        elapsed = time.perf_counter() - start
        metrics.article_seconds.labels(label(record.extraction)).observe(elapsed)
    return record


def record_stored(articles: int, rule_ids: Iterable[str], metrics: Metrics = METRICS) -> None:
    """A poll committed `articles` new articles with these hits (one rule id per hit)."""
    if articles:
        metrics.articles_stored.inc(articles)
    for rule in rule_ids:
        metrics.hits.labels(label(rule)).inc()


def record_delivery(outcome: str, error: str | None, metrics: Metrics = METRICS) -> None:
    """One send attempt ended with `outcome` (a `DeliveryOutcome` value)."""
    metrics.deliveries.labels(label(outcome)).inc()
    if error and str(outcome) != "sent":
        metrics.delivery_errors.labels(label(error_code(error))).inc()


def record_cycle(result: str, seconds: float | None, metrics: Metrics = METRICS) -> None:
    """A poll cycle ended: `ok` (also sets the last-success time), `failed` or `timeout`."""
    metrics.cycles.labels(label(result)).inc()
    if seconds is not None:
        metrics.cycle_seconds.observe(seconds)
    if result == "ok":
        metrics.last_cycle.set(time.time())


def record_worker_memory(megabytes: float, metrics: Metrics = METRICS) -> None:
    """The extraction pool read its largest worker's private memory."""
    metrics.worker_memory.set(megabytes * 2**20)


def record_pool_replacement(reason: str, metrics: Metrics = METRICS) -> None:
    """The extraction pool replaced its workers: memory, pages, deadline or crash."""
    metrics.pool_replacements.labels(label(reason)).inc()
