"""The stored-state gauges of `/metrics`: queried from the database at each scrape.

`watcher_database_up` (1 when the database answered), `watcher_alerts{state}`
(outbox rows by state), `watcher_sources_due` (enabled sources whose next
poll has come) and `watcher_judgments{rule,verdict}` (the analysts'
judgments of alerts for each rule) are not counted as events happen but read when Prometheus
asks, so they are right after a restart and across several processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from watcher.metrics import Metrics
from watcher.store.db import Database
from watcher.store.judgments import judgment_counts
from watcher.store.queries import stored_state

ALERT_STATES = ("pending", "sent", "failed", "dead")  # always reported, 0 when none


class DatabaseCollector(Collector):
    """Alerts by state and the source backlog, queried when `/metrics` is scraped."""

    def __init__(self, db: Database, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.clock = clock or (lambda: datetime.now(UTC))

    def describe(self) -> Iterable[Metric]:
        return []  # no query at registration time

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("watcher_database_up", "1 when the database answered.")
        try:
            with self.db.session() as session:
                state = stored_state(session, self.clock())
                judged = judgment_counts(session)
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        family = GaugeMetricFamily(
            "watcher_alerts", "Alert outbox rows by state.", labels=["state"]
        )
        alerts = state.alerts_by_state
        for name in sorted(set(ALERT_STATES) | set(alerts)):
            family.add_metric([name], alerts.get(name, 0))
        yield family
        yield GaugeMetricFamily(
            "watcher_sources_due",
            "Enabled sources whose next poll has come.",
            value=state.sources_due,
        )
        verdicts = GaugeMetricFamily(
            "watcher_judgments",
            "Analyst judgments of alerts for each rule, by verdict (relevant, not_relevant).",
            labels=["rule", "verdict"],
        )
        for (rule, verdict), n in sorted(judged.items()):
            verdicts.add_metric([rule, verdict], n)
        yield verdicts


_ATTACHED: dict[int, DatabaseCollector] = {}  # id(registry) -> its collector


def attach_database(metrics: Metrics, db: Database) -> None:
    """Read the stored-state gauges from `db` at every scrape of `metrics` (one collector
    per registry; attaching again points it at the new database)."""
    collector = _ATTACHED.get(id(metrics.registry))
    if collector is None:
        collector = _ATTACHED[id(metrics.registry)] = DatabaseCollector(db)
        metrics.registry.register(collector)
    else:
        collector.db = db
