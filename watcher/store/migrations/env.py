"""Alembic environment: runs on the connection `watcher.store.db.upgrade` passes in."""

from alembic import context

from watcher.store.models import Base
from watcher.store.schema import described

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=described,  # the queue's tables and the search index are not modelled
)
with context.begin_transaction():
    context.run_migrations()
