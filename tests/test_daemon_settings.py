"""Daemon settings from the environment, config diffs and the file change detectors."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from watcher.config import daemon_settings
from watcher.daemon.reload import diff_config, file_stamp, rules_stamp
from watcher.errors import ConfigError
from watcher.model import SourceSpec
from watcher.settings import AlertsConfig, Config, FetchConfig


def test_settings_default_without_environment() -> None:
    """With no variables set the production intervals apply."""
    s = daemon_settings({})
    assert (s.poll_tick, s.dispatch_tick, s.reload_tick) == (30.0, 5.0, 3.0)
    assert s.retention_max_age == timedelta(days=90)


def test_settings_read_seconds_and_durations() -> None:
    """Tick variables take plain seconds (fractions too) or durations like `5m`."""
    s = daemon_settings(
        {
            "WATCHER_POLL_TICK": "0.5",
            "WATCHER_DISPATCH_TICK": "2m",
            "WATCHER_CYCLE_TIMEOUT": "10",
            "WATCHER_RETENTION_MAX_AGE": "30d",
        }
    )
    assert (s.poll_tick, s.dispatch_tick, s.cycle_timeout) == (0.5, 120.0, 10.0)
    assert s.retention_max_age == timedelta(days=30)


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_settings_reject_a_bad_value_naming_the_variable(value: str) -> None:
    """A zero, negative or unreadable interval is a ConfigError naming the variable."""
    with pytest.raises(ConfigError, match="WATCHER_POLL_TICK"):
        daemon_settings({"WATCHER_POLL_TICK": value})


def test_diff_config_names_sources_added_removed_and_changed() -> None:
    """Sources are compared by name; other settings are sorted into live and restart-only."""
    a, b, c = (SourceSpec(n, f"https://{n}.example/feed") for n in "abc")
    old = Config(sources=(a, b))
    new = Config(
        sources=(replace(b, interval=timedelta(minutes=5)), c),
        fetch=FetchConfig(per_host=2),
        listen="127.0.0.1:9999",
    )
    changes = diff_config(old, new)
    assert changes.sources_added == ("c",)
    assert changes.sources_removed == ("a",)
    assert changes.sources_changed == ("b",)
    assert changes.other == ("fetch",)
    assert changes.restart_needed == ("listen",)
    assert not changes.rules_changed
    assert diff_config(old, replace(old, alerts=AlertsConfig(default_route=("#x",)))).rules_changed
    assert not diff_config(old, old).any


def test_stamps_change_when_files_change(tmp_path: Path) -> None:
    """Adding, editing or removing a rule file, or editing the config, changes the stamp."""
    rule = tmp_path / "a.yaml"
    rule.write_text("id: a\n", encoding="utf-8")
    first = rules_stamp(tmp_path)
    rule.write_text("id: a\nname: longer\n", encoding="utf-8")
    second = rules_stamp(tmp_path)
    (tmp_path / "b.yml").write_text("id: b\n", encoding="utf-8")
    third = rules_stamp(tmp_path)
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    assert len({first, second, third}) == 3
    assert rules_stamp(tmp_path) == third
    assert rules_stamp(tmp_path / "missing") == ()
    before = file_stamp(rule)
    os.utime(rule, ns=(1, 1))
    assert file_stamp(rule) != before
    assert file_stamp(None) == ()


def test_stamp_changes_when_a_term_set_changes(tmp_path: Path) -> None:
    """Editing or adding a term set in terms/ changes the rules stamp, so rules reload."""
    (tmp_path / "a.yaml").write_text("id: a\n", encoding="utf-8")
    (tmp_path / "terms").mkdir()
    term_set = tmp_path / "terms" / "aukus.yaml"
    term_set.write_text("terms: [AUKUS]\n", encoding="utf-8")
    first = rules_stamp(tmp_path)
    term_set.write_text("terms: [AUKUS, オーカス]\n", encoding="utf-8")
    second = rules_stamp(tmp_path)
    (tmp_path / "terms" / "japan.yaml").write_text("terms: [Japan]\n", encoding="utf-8")
    assert len({first, second, rules_stamp(tmp_path)}) == 3
