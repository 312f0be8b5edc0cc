"""Alembic environment: runs on the connection `watcher.store.db.upgrade` passes in."""

from alembic import context

from watcher.store.models import Base
from watcher.store.search_index import modelled

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_name=modelled,  # the search index is a migration's, not a model's
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
