"""The article store: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL. I/O."""
