"""Alembic environment: runs on the connection handed over by app.db.migrate."""

from alembic import context

from app.db import Base
from app.models import import_all

import_all()
config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through app.db.migrate()")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
