"""`kill -9` of a dispatching process: after a restart nothing is lost, at most one is resent.

A small script (written below, run with this interpreter) dispatches from a
real SQLite file to the Slack stand-in. It is killed with SIGKILL (a) after
an alert was claimed and before it was sent (the script kills itself at the
Nth send, inside the sender), and (b) after Slack posted a message and
before the outcome was recorded (the stand-in holds its answer back and the
test kills the process from outside meanwhile). A second run of the script
is the restart.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dispatch_helpers import alert_rows, article, seed
from tests.support.slackstub import Reply, SlackStub
from watcher.store.db import open_database

ROOT = Path(__file__).resolve().parents[1]
LEASE = 0.5  # seconds: the claim left by the killed process runs out quickly

SCRIPT = """
import os, signal, sys
from watcher.pipeline.dispatch import Dispatcher
from watcher.alerts.slack import SlackBotSender
from watcher.store.db import open_database

url, base_url, kill, lease = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
when, _, nth = kill.partition(":")  # "before:N" / "after:N": SIGKILL around the Nth send
inner = SlackBotSender("xoxb-test", base_url=base_url, timeout=10)
sends = 0

class Killing:
    def send(self, payload, *, channel, thread_ts):
        global sends
        sends += 1
        if when == "before" and sends == int(nth):  # the claim is committed, nothing sent
            os.kill(os.getpid(), signal.SIGKILL)
        result = inner.send(payload, channel=channel, thread_ts=thread_ts)
        if when == "after" and sends == int(nth):  # Slack posted it, nothing recorded
            os.kill(os.getpid(), signal.SIGKILL)
        return result

db = open_database(url)
report = Dispatcher(db, Killing(), lambda: {}, pace=0.0, claim_lease=lease).run(max_wait=5)
print("done", report.sent, report.waiting, flush=True)
"""


def _start(script: Path, url: str, stub: SlackStub, kill: str = "never") -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, str(script), url, stub.base_url, kill, str(LEASE)]
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


def _posts_per_message(stub: SlackStub) -> collections.Counter[tuple[str, str]]:
    return collections.Counter((c, p["text"]) for c, _t, p in stub.delivered)


@pytest.fixture
def outbox(tmp_path: Path) -> tuple[Path, str]:
    """A SQLite outbox with 4 stories on two routes (8 alerts) and one thread reply per route."""
    url = f"sqlite:///{tmp_path / 'watcher.db'}"
    db = open_database(url)
    saved = seed(db, [article(n, routes=("#a", "#b")) for n in (1, 2, 3, 4)])
    seed(db, [article(5, routes=("#a", "#b"))], story=saved[0].story_id)
    db.dispose()
    script = tmp_path / "dispatch.py"
    script.write_text(SCRIPT)
    return script, url


def _check_after_restart(url: str, stub: SlackStub, *, duplicates: int) -> None:
    db = open_database(url)
    rows = alert_rows(db)
    db.dispose()
    assert {r.state for r in rows} == {"sent"}
    counts = _posts_per_message(stub)
    assert len(counts) == 10  # every alert of every route is on Slack ...
    assert sum(counts.values()) == 10 + duplicates  # ... once, bar the one in flight
    assert max(counts.values()) <= 2
    replies = [p for _c, _t, p in stub.delivered if p.get("thread_ts")]
    recorded = {r.ts for r in rows if r.kind == "alert"}
    assert len(replies) == 2
    assert all(p["thread_ts"] in recorded for p in replies)


def test_kill_between_claim_and_send_loses_nothing_and_duplicates_nothing(
    outbox: tuple[Path, str], slack_stub: SlackStub
) -> None:
    """Killed after claiming its 4th alert, the restart sends every alert exactly once."""
    script, url = outbox
    code, out = _finish(_start(script, url, slack_stub, kill="before:4"))
    assert code == -signal.SIGKILL, out
    assert len(slack_stub.delivered) == 3
    code, out = _finish(_start(script, url, slack_stub))
    assert code == 0, out
    assert "done 7 0" in out
    _check_after_restart(url, slack_stub, duplicates=0)


def test_kill_between_send_and_record_resends_only_the_message_in_flight(
    outbox: tuple[Path, str], slack_stub: SlackStub
) -> None:
    """Killed while Slack's answer to the 3rd post is pending, the restart posts that one again."""
    script, url = outbox
    slack_stub.script(Reply.ok(), Reply.ok(), Reply.slow(20))  # the 3rd answer is held back
    proc = _start(script, url, slack_stub)
    deadline = time.monotonic() + 20
    while len(slack_stub.delivered) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(slack_stub.delivered) == 3  # Slack has posted it; our process does not know yet
    proc.kill()  # SIGKILL
    code, out = _finish(proc)
    assert code == -signal.SIGKILL, out
    code, out = _finish(_start(script, url, slack_stub))
    assert code == 0, out
    _check_after_restart(url, slack_stub, duplicates=1)


def test_repeated_kills_at_random_points_never_lose_an_alert(
    outbox: tuple[Path, str], slack_stub: SlackStub
) -> None:
    """Across several kill -9s before and after sends, every alert is posted once or twice."""
    script, url = outbox
    rng = random.Random(24)
    points = [f"{rng.choice(('before', 'after'))}:{rng.randint(1, 3)}" for _ in range(4)]
    for point in points:
        code, out = _finish(_start(script, url, slack_stub, kill=point))
        assert code in (0, -signal.SIGKILL), out
    code, out = _finish(_start(script, url, slack_stub))
    assert code == 0, out
    counts = _posts_per_message(slack_stub)
    assert len(counts) == 10
    assert set(counts.values()) <= {1, 2}
    assert sum(counts.values()) - 10 <= sum(p.startswith("after") for p in points)
