"""When a route's digest is due, and what period it covers (pure functions).

A route collects *held* alerts: every alert of a `mode = "digest"` route,
and on an instant route the alerts of a rule over its budget. They go out
together as one digest message on a regular cadence: the first one
`interval` after the first held story, later ones on the next multiple of
`interval` after the previous digest that comes after the oldest held
story. So a route gets at most one digest per interval, a quiet route gets
none, and no story waits longer than one interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def digest_due_at(
    *, interval: timedelta, oldest_held: datetime, last_digest: datetime | None
) -> datetime:
    """When the digest of a route holding alerts since `oldest_held` may be posted."""
    if last_digest is None:
        return oldest_held + interval
    periods = max(1, (oldest_held - last_digest) // interval + 1)
    return last_digest + periods * interval


def digest_since(*, oldest_held: datetime, last_digest: datetime | None) -> datetime:
    """The start of the period a digest covers ("since ..." in its header): the last one."""
    return oldest_held if last_digest is None else last_digest
