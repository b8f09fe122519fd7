"""Database URLs: a plain `postgresql://user@host:port/db` works as given.

psycopg 3 is the one PostgreSQL driver, for SQLAlchemy (`postgresql+psycopg`, async) and for
the procrastinate job queue (which takes a libpq connection string).
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

_PG_SCHEMES = ("postgresql", "postgres")


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` (and a psycopg2 URL) become `postgresql+psycopg://`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    base, _, driver = scheme.partition("+")
    if base in _PG_SCHEMES and driver in ("", "psycopg2", "psycopg"):
        return f"postgresql+psycopg://{rest}"
    return url


def is_postgres(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "postgresql"


def libpq_url(url: str) -> str:
    """The libpq connection string (`postgresql://...`) for psycopg itself and procrastinate."""
    parsed = make_url(normalize_url(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
