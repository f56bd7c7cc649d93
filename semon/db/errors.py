"""Which database errors are retried and which are a refusal of the data: one rule for every
writer of semon (the ingester's batches and device states, the rules engine's alarm changes and
checkpoints), so that the same error is never retried by one and dead-lettered by another.

Three kinds of error reach a writer:

- **an outage** (``is_outage``): the database is away or cannot take the work now. SQLSTATE
  class 08 (connection exception), 53 (insufficient resources: disk full, out of memory, too
  many connections), 57 (operator intervention: 57P01-57P05, the server shutting down or not
  yet accepting connections, and 57014, a statement cancelled or timed out), 58 (system error:
  an I/O error), 40001 (serialization failure) and 40P01 (deadlock); any
  ``psycopg.OperationalError`` (which psycopg raises for those classes and for a connection
  lost or refused before the server said anything), ``psycopg_pool.PoolTimeout`` among them.
  Nothing is wrong with the rows: the same work is tried again after a backoff, warned about
  as an outage (``semon.periodic``).
- **a refusal** (``is_refusal``): the server (or the driver, encoding a value) says the rows
  cannot be stored, and will say so on every try: class 22 (data exception, e.g. a character
  PostgreSQL cannot hold), 23 (integrity constraint), 54 (program limit exceeded, e.g. an
  index row too large), P0 (a PL/pgSQL ``RAISE``: a trigger or function refusing the row by
  the schema's own rule, a check written in code), a driver's ``DataError`` or
  ``IntegrityError``, a value the driver cannot encode (``ValueError``, ``OverflowError``). The
  refused rows are found and dead-lettered, the others stored.
- **anything else from the database** (class 42 and 3F: an undefined table, column or schema,
  a permission revoked, a syntax error; XX: an internal error; an ``InterfaceError``): retried
  like an outage, but logged as an error with its traceback. A ``ProgrammingError`` is either
  a schema missing or changed under us (after a restore, before the migrations ran again),
  which heals when an operator restores it, or a bad query, which heals with a fix; neither is
  the rows' fault, and treating it as a refusal would dead-letter every row written until then
  (or drop every rule state), losing data that the fix would have stored. Retried, nothing is
  acknowledged meanwhile and the broker keeps the messages.

``is_transient`` (an outage or anything else from the database: retry) is the retry rule of
every writer; ``is_refusal`` the rule for isolating rows. An error that is neither (not from
the database at all: a bug in our code) is raised to the caller.
"""

from __future__ import annotations

import psycopg
from psycopg_pool import PoolTimeout

OUTAGE_CLASSES = frozenset({"08", "53", "57", "58"})
"""SQLSTATE classes of an outage (the first two characters)."""
OUTAGE_STATES = frozenset({"40001", "40P01"})
"""SQLSTATEs of an outage outside those classes: serialization failure, deadlock."""
REFUSED_CLASSES = frozenset({"22", "23", "54", "P0"})
"""SQLSTATE classes of a refusal of the data."""


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` says the database is away or cannot take the work now (see above)."""
    if is_refusal(exc):  # psycopg's ProgramLimitExceeded (54) is an OperationalError too
        return False
    if isinstance(exc, psycopg.OperationalError):  # PoolTimeout is one
        return True
    state = exc.sqlstate if isinstance(exc, psycopg.Error) else None
    return state is not None and (state[:2] in OUTAGE_CLASSES or state in OUTAGE_STATES)


def is_refusal(exc: BaseException) -> bool:
    """True when ``exc`` says the rows themselves cannot be stored (see above)."""
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:  # raised by the driver, before the server saw the rows
            return isinstance(exc, psycopg.DataError | psycopg.IntegrityError)
        return state[:2] in REFUSED_CLASSES
    # The driver failed to encode a value (a lone surrogate, an integer beyond int8, ...).
    return isinstance(exc, ValueError | OverflowError)


def is_transient(exc: BaseException) -> bool:
    """True for a database error that another attempt of the same work may overcome: an outage,
    or any database error that is not a refusal (see above). False for a refusal and for what
    does not come from the database."""
    return isinstance(exc, PoolTimeout) or (isinstance(exc, psycopg.Error) and not is_refusal(exc))
