"""The alert budget: when a rule's alerts stop going out one by one (a pure decision).

Per rule and route, at most `budget` instant alerts within `budget_window`.
The alert that would go past it starts a *burst*: the rule is held for one
budget window from then (its alerts go into the route's next digest) and a
single burst notice is posted. The counts and bursts are database state
(sent alerts and `route_messages` rows), so a restart keeps them.

An alert that matched several rules still goes out on its own while any of
its rules has budget left: a quiet rule is never hidden behind a noisy one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BudgetDecision:
    """`instant`: post the alert now; else hold it and start a burst for `new_bursts`."""

    instant: bool
    new_bursts: tuple[str, ...] = ()


def decide(
    rule_ids: Iterable[str],
    *,
    sent: Mapping[str, int],
    bursting: Collection[str],
    budget: int,
) -> BudgetDecision:
    """Whether an alert of `rule_ids` fits the budget.

    `sent` counts each rule's instant alerts on the route within the window;
    `bursting` are the rules already held. An alert with no rule is instant.
    """
    rules = sorted(set(rule_ids))
    if not rules:
        return BudgetDecision(instant=True)
    fresh = [r for r in rules if r not in bursting]
    if any(sent.get(r, 0) < budget for r in fresh):
        return BudgetDecision(instant=True)
    return BudgetDecision(instant=False, new_bursts=tuple(fresh))
