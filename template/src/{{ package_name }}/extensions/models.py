"""Your tables. Subclass `Base` from `..models`; Alembic's autogenerate sees them through this module."""
