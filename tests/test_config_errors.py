"""Every config mistake is one line naming the file (and the line of a typo), exit 2.

Issue 13, item 5: typos in any table name the nearest valid key with the
key's line and column; malformed values (a port, a database dialect, a
non-UTF-8 file, a duration that overflows, a rule nested 198 parentheses
deep) are messages, never tracebacks. The loader is fuzzed with hypothesis
(random TOML built from the real keys and hostile values, and random bytes):
it returns a Config or raises ConfigError, nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_daemon_helpers import base_env
from watcher.config import FILE_KEYS, daemon_settings, key_position, load_config
from watcher.errors import ConfigError

SOURCE = '[[sources]]\nname = "a"\nurl = "https://example.com/feed"\n'


def watcher(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI in `tmp_path` (database from the config file unless `env` names one)."""
    if env is None:
        env = base_env("")
        del env["WATCHER_DATABASE_URL"]
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", *args],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, proc.stderr


ROUTE = '[alerts.routes."#c"]\nmod = "digest"\n'
TWO_SOURCES = SOURCE + "\n" + SOURCE.replace('"a"', '"b"') + 'intervall = "5m"\n'


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[database]\nulr = "x"\n', "2:1: [database] unknown key 'ulr' (did you mean 'url'?)"),
        ('[rules]\n\n  dri = "r"\n', "3:3: [rules] unknown key 'dri' (did you mean 'dir'?)"),
        ('[web]\nlisen = ""\n', "2:1: [web] unknown key 'lisen' (did you mean 'listen'?)"),
        (
            "[fetch]\nper_hots = 3\n",
            "2:1: [fetch] unknown key 'per_hots' (did you mean 'per_host'?)",
        ),
        ("[alerts]\nbugdet = 3\n", "2:1: [alerts] unknown key 'bugdet' (did you mean 'budget'?)"),
        ('[stories]\nwindw = ""\n', "2:1: [stories] unknown key 'windw' (did you mean 'window'?)"),
        (
            ROUTE,
            "2:1: [alerts.routes.'#c']: [alerts.routes] unknown key 'mod' (did you mean 'mode'?)",
        ),
        (
            TWO_SOURCES,
            "8:1: source #2: [sources] unknown key 'intervall' (did you mean 'interval'?)",
        ),
        ('[databse]\nurl = "x"\n', "1:1: unknown section 'databse' (did you mean [database]?)"),
    ],
)
def test_a_typo_names_its_line_and_the_nearest_key(
    tmp_path: Path, toml: str, expected: str
) -> None:
    (tmp_path / "w.toml").write_text(toml, encoding="utf-8")
    code, stderr = watcher(tmp_path, "sources", "--config", "w.toml")
    assert code == 2
    assert stderr.strip() == f"watcher: w.toml:{expected}"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[web]\nlisten = "127.0.0.1:99999"\n', "port from 1 to 65535, got '127.0.0.1:99999'"),
        ('[web]\nlisten = "127.0.0.1:http"\n', "[web] listen must be host:port with a port"),
        ("[web]\nlisten = 8080\n", "[web] listen must be a string"),
        ('[database]\nurl = "mysql://u:hunter2@h/db"\n', "unsupported database 'mysql'"),
        ('[database]\nurl = "postgresql://u:hunter2@h:port/db"\n', "the port must be a number"),
        (SOURCE + 'interval = "99999999999d"\n', "interval: at most 3650 days"),
        (SOURCE + "interval = 1e300\n", "interval: at most 3650 days"),
        (SOURCE + "interval = nan\n", "interval: expected a duration"),
        ('[stories]\nwindow = "999999999999w"\n', "[stories] window: at most 3650 days"),
        ("[alerts]\nbudget_window = inf\n", "[alerts] budget_window: at most 3650 days"),
        ("[fetch]\ntotal_timeout = 1e300\n", "[fetch] total_timeout must be at most 86400 s"),
        ("[fetch]\nper_host = 99999999999999999999\n", "[fetch] per_host must be at most"),
        ("[fetch\n", "w.toml: Expected ']'"),
    ],
)  # fmt: skip
def test_a_malformed_value_is_one_line_and_exit_2(tmp_path: Path, toml: str, expected: str) -> None:
    (tmp_path / "w.toml").write_text(toml, encoding="utf-8")
    code, stderr = watcher(tmp_path, "db", "upgrade", "--config", "w.toml")
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert expected in stderr
    assert "Traceback" not in stderr
    assert "hunter2" not in stderr


def test_a_non_utf8_config_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "w.toml").write_bytes(b'[web]\nlisten = "\xff\xfe127.0.0.1:1"\n')
    code, stderr = watcher(tmp_path, "run", "--once", "--config", "w.toml")
    assert code == 2
    assert stderr.strip() == (
        "watcher: w.toml:2: not UTF-8 text (byte 0xff at offset 16); save the file as UTF-8"
    )


@pytest.mark.parametrize("value", ["1e300", "inf", "99999999999d"])
def test_a_huge_daemon_tick_is_one_line(tmp_path: Path, value: str) -> None:
    env = base_env(f"sqlite:///{tmp_path / 'w.db'}") | {"WATCHER_POLL_TICK": value}
    code, stderr = watcher(tmp_path, "run", env=env)
    assert code == 2
    assert stderr.strip().startswith("watcher: WATCHER_POLL_TICK: ")
    assert len(stderr.strip().splitlines()) == 1


def test_a_rule_nested_198_parentheses_deep_is_a_located_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    deep = "(" * 198 + "AUKUS" + ")" * 198
    (rules / "deep.yaml").write_text(
        f'id: deep\nname: Deep\nseverity: high\nquery: "{deep}"\n', encoding="utf-8"
    )
    code, stderr = watcher(tmp_path, "run", "--once", "--rules", str(rules))
    assert code == 2
    assert "RecursionError" not in stderr
    assert stderr.strip() == (
        f"{rules / 'deep.yaml'}:4:73: query: the query is nested more than 64 levels deep"
    )


def test_key_position_follows_tables_and_array_tables() -> None:
    text = '# c\n[fetch]\nretries = 1\n[[sources]]\nname = "a"\n[[sources]]\n"name" = "b"\n'
    assert key_position(text, "fetch", "retries") == (3, 1)
    assert key_position(text, "sources", "name", 2) == (7, 1)
    assert key_position(text, "sources", "name", 3) is None
    assert key_position(text, "", "fetch") == (2, 1)


# -- fuzzing ---------------------------------------------------------------------------

KEYS = sorted({k for keys in FILE_KEYS.values() for k in keys} | {"ulr", "nme", "x"})
VALUES = st.one_of(
    st.sampled_from(
        ['"15m"', '"0s"', '"99999999999999d"', "1e308", "-1", "0", "inf", "nan", "true",
         '"127.0.0.1:0"', '"[::1]:65536"', '":"', '"sqlite:///x.db"', '"mysql://a:b@c/d"',
         '"postgresql://a:b@c:99999/d"', "[]", '["10.0.0.0/8"]', '["x"]', '{a = 1}',
         '"digest"', '"html"', '"(a+)+$"', '"["', "99999999999999999999", '"\\u0000"']
    ),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12).map(json.dumps),
    st.integers().map(str),
    st.floats(allow_nan=True).map(repr),
)  # fmt: skip
TABLES = ["database", "rules", "web", "fetch", "alerts", 'alerts.routes."#c"', "stories", "x"]


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        table = draw(st.sampled_from([*TABLES, "[sources]"]))
        header = "[[sources]]" if table == "[sources]" else f"[{table}]"
        pairs = draw(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=4))
        parts.append(header + "\n" + "".join(f"{k} = {v}\n" for k, v in pairs))
    return "\n".join(parts)


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.toml"
        path.write_bytes(data)
        message = ""
        try:
            config = load_config(path, environ={})
        except ConfigError as exc:
            message = str(exc)
        if message:
            assert "\n" not in message
            assert message.startswith(str(path))
        else:
            assert config.path == path


@FUZZ
@given(config_texts())
def test_fuzzed_config_files_load_or_fail_with_a_config_error(text: str) -> None:
    _load(text.encode("utf-8"))


@FUZZ
@given(st.binary(max_size=80))
def test_random_bytes_load_or_fail_with_a_config_error(data: bytes) -> None:
    _load(data)


@FUZZ
@given(st.dictionaries(st.sampled_from(["WATCHER_POLL_TICK", "WATCHER_CYCLE_TIMEOUT",
       "WATCHER_RETENTION_MAX_AGE", "WATCHER_RETENTION_TICK"]), VALUES, max_size=3))  # fmt: skip
def test_fuzzed_daemon_variables_give_settings_or_a_config_error(env: dict[str, str]) -> None:
    message = ""
    try:
        daemon_settings(env)
    except ConfigError as exc:
        message = str(exc)
    assert "\n" not in message
