"""Storage: every SQL statement of watcher, on SQLite or PostgreSQL through SQLAlchemy.

Engines, sessions and migrations (`db`), the ORM tables (`models`), and one
module per kind of state: articles and hits, sources and their schedule, the
alert outbox and route messages, stories, history for backtests, retention,
and the read-only queries behind the CLI, `/healthz` and `/metrics`.
"""
