"""Alembic environment: runs on the connection `watcher.store.db.upgrade` passes in."""

from alembic import context

from watcher.store.cluster import ours
from watcher.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=ours,  # Procrastinate's own tables are not ours to compare
)
with context.begin_transaction():
    context.run_migrations()
