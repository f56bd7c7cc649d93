"""Database access: the connection pool and the schema migrations."""

from semon.db.migrations import apply_migrations
from semon.db.pool import open_pool

__all__ = ["apply_migrations", "open_pool"]
