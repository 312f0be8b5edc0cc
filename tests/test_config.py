"""Configuration: file, environment overrides, defaults, and clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from watcher.config import load_config
from watcher.errors import ConfigError
from watcher.model import SourceKind
from watcher.settings import DEFAULT_DATABASE_URL, parse_duration

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_config_loads_with_real_sources() -> None:
    """The repository's watcher.toml is valid and lists English and Japanese sources."""
    config = load_config(ROOT / "watcher.toml", {})
    assert len(config.sources) >= 10
    assert any("nhk.or.jp" in s.url for s in config.sources)
    assert all(s.kind in SourceKind for s in config.sources)
    assert config.fetch.allow_private_addresses is False
    assert config.slack.mode == "console"


def test_no_file_gives_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a config file: SQLite under ./data, ./rules, console alerts."""
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {})
    assert config.path is None
    assert config.database_url == DEFAULT_DATABASE_URL
    assert config.rules_dir == Path("rules")
    assert config.sources == ()


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """WATCHER_* variables win over the file; the bot token wins over the webhook."""
    path = tmp_path / "w.toml"
    path.write_text('[database]\nurl = "sqlite:///x.db"\n[web]\nlisten = "127.0.0.1:1"\n')
    env = {
        "WATCHER_DATABASE_URL": "postgresql://u@h/db",
        "WATCHER_LISTEN": "0.0.0.0:9",
        "WATCHER_RULES_DIR": "/r",
        "SLACK_BOT_TOKEN": "xoxb-secret",
        "SLACK_WEBHOOK_URL": "http://127.0.0.1/hook",
    }
    config = load_config(path, env)
    assert (config.database_url, config.listen, config.rules_dir) == (
        "postgresql://u@h/db",
        "0.0.0.0:9",
        Path("/r"),
    )
    assert config.slack.mode == "bot"
    assert "xoxb-secret" not in repr(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[fetch]\nper_host = 'four'\n", "per_host must be int, got 'four'"),
        ("[fetch]\nbogus = 1\n", "[fetch] unknown key 'bogus'"),
        ("[fetch]\nper_hots = 1\n", "[fetch] unknown key 'per_hots' (did you mean 'per_host'?)"),
        ('[database]\nulr = "x"\n', "[database] unknown key 'ulr' (did you mean 'url'?)"),
        ('[rules]\ndirectory = "r"\n', "[rules] unknown key 'directory' (known: dir)"),
        ('[web]\nlisten_on = ":1"\n', "[web] unknown key 'listen_on' (did you mean 'listen'?)"),
        ("[nope]\n", "unknown section 'nope'"),
        ("[alerts]\nbudget_window = 'soon'\n", "expected a duration like"),
        (
            "[[sources]]\nname = 'a'\nurl = 'ftp://x'\n",
            "'url' must be an http(s) URL, got 'ftp://x'",
        ),
        (
            "[[sources]]\nname = 'a'\nurl = 'https://x'\nkind = 'atom'\n",
            "kind must be rss, html or sitemap, got 'atom'",
        ),
        (
            "[[sources]]\nname = 'a'\nurl = 'https://x'\n[[sources]]\nname = 'a'\nurl = 'https://y'\n",
            "duplicate source name",
        ),
        ("[[sources]]\nname = 'a'\nurl = 'https://x'\ninclude = ['(']\n", "include pattern '('"),
        ("[fetch\n", "line 1"),
        ("[alerts]\nops_route = 'ops channel'\n", "ops_route must be a channel like"),
        (
            "[alerts]\nops_route = 7\n",
            "[alerts] ops_route must be a channel like '#watcher-ops', got 7",
        ),
        ("[alerts]\ndefault_route = []\n", "ops_route is required when default_route is empty"),
        (
            "[alerts]\nunhealthy_after = 0\n",
            "[alerts] unhealthy_after must be a positive number of polls, got 0",
        ),
        (
            "[alerts]\nunhealthy_after = 'five'\n",
            "unhealthy_after must be a positive number of polls, got 'five'",
        ),
        (
            "[alerts]\nempty_after = true\n",
            "[alerts] empty_after must be a positive number of polls, got True",
        ),
        ("[alerts]\nempty_after = -2\n", "empty_after must be a positive number of polls, got -2"),
        (
            "[fetch]\nallowed_networks = ['10.1.0.0/16', '10.300.0.0/16']\n",
            "allowed_networks: '10.300.0.0/16' is not a network",
        ),
        (
            "[fetch]\nallowed_networks = ['intranet']\n",
            "allowed_networks: 'intranet' is not a network",
        ),
        ("[fetch]\nallowed_networks = [10]\n", "allowed_networks: 10 is not a network"),
        ("[fetch]\nallowed_networks = '10.0.0.0/8'\n", "allowed_networks must be a list like"),
    ],
)
def test_invalid_config_names_the_file_and_the_offending_value(
    tmp_path: Path, text: str, message: str
) -> None:
    """Each kind of mistake raises ConfigError naming the file and what is wrong."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_an_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    """Asking for a config file that does not exist fails instead of using defaults."""
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml", {})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("7d", timedelta(days=7)),
        ("30s", timedelta(seconds=30)),
        (90, timedelta(seconds=90)),
    ],
)
def test_durations(value: object, expected: timedelta) -> None:
    """Durations accept s/m/h/d/w suffixes or plain seconds."""
    assert parse_duration(value) == expected


def test_ops_alert_settings_default_to_the_first_default_route(tmp_path: Path) -> None:
    """Without `ops_route` ops alerts go to the first default route; thresholds are 5 and 3."""
    path = tmp_path / "w.toml"
    path.write_text('[alerts]\ndefault_route = ["#news", "#more"]\n')
    alerts = load_config(path, {}).alerts
    assert (alerts.ops_route, alerts.unhealthy_after, alerts.empty_after) == ("#news", 5, 3)


def test_ops_alert_settings_and_allowed_networks_are_read(tmp_path: Path) -> None:
    """`ops_route`, the thresholds and `allowed_networks` (host bits allowed) come from the file."""
    path = tmp_path / "w.toml"
    path.write_text(
        '[fetch]\nallowed_networks = ["10.1.0.0/16", "192.168.7.9/24", "fd00::/8"]\n'
        '[alerts]\nops_route = "#watcher-ops"\nunhealthy_after = 8\nempty_after = 2\n'
    )
    config = load_config(path, {})
    assert config.fetch.allowed_networks == ("10.1.0.0/16", "192.168.7.9/24", "fd00::/8")
    alerts = config.alerts
    assert (alerts.ops_route, alerts.unhealthy_after, alerts.empty_after) == ("#watcher-ops", 8, 2)
    assert load_config(ROOT / "watcher.toml", {}).fetch.allowed_networks == ()
