"""Where SQLite and PostgreSQL spell a statement differently: the one place that knows.

The repositories write their SQL once, in the SQL both databases accept, with these
SQLite spellings that PostgreSQL lacks; ``to_postgresql`` rewrites them, once per
statement text (the result is cached: the repositories use constant strings):

- qmark placeholders ``?`` become PostgreSQL's own numbered ones, ``$1``, ``$2``, ...
  (run through psycopg's ``RawCursor``, which passes the statement as it is);
- ``json_extract(column, '$.field')`` (a field of a JSON document kept as TEXT) becomes
  ``(column::json ->> 'field')``.

The rest is common ground, chosen so no translation is needed: ``RETURNING id`` instead
of ``lastrowid``, ``IS DISTINCT FROM`` instead of ``IS NOT`` between values,
``ON CONFLICT ... DO NOTHING`` / ``DO UPDATE SET ... = excluded.x`` for upserts.
The schemas differ in their DDL only: ``storage/migrations/<backend>/``.
"""

from __future__ import annotations

import re
from functools import lru_cache

_JSON_FIELD = re.compile(
    r"json_extract\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*,\s*'\$\.([A-Za-z_]\w*)'\s*\)"
)


@lru_cache(maxsize=2048)
def to_postgresql(sql: str) -> str:
    """The statement as psycopg takes it for PostgreSQL."""
    sql = _JSON_FIELD.sub(r"(\1::json ->> '\2')", sql)
    out: list[str] = []
    quote: str | None = None  # inside '...' or "...": copied as it is
    placeholders = 0
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
            out.append(char)
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            placeholders += 1
            out.append(f"${placeholders}")
        else:
            out.append(char)
    if quote is not None:
        raise ValueError(f"unterminated quote in SQL: {sql!r}")
    return "".join(out)
