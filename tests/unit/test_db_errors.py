"""``semon.db.errors``: the one rule for which database errors are retried (an outage, or any
other database error: an undefined table is not the rows' fault) and which are a refusal of the
data (dead-lettered), shared by the ingester and the rules engine. One case per SQLSTATE class."""

from __future__ import annotations

import psycopg
import psycopg.errors
import pytest
from psycopg_pool import PoolTimeout

from semon.db.errors import is_outage, is_refusal, is_transient

OUTAGES = [
    psycopg.OperationalError("connection refused"),  # before the server said anything
    PoolTimeout("couldn't get a connection after 5.00 sec"),
    psycopg.errors.ConnectionFailure("08006"),  # class 08
    psycopg.errors.AdminShutdown("terminating connection"),  # 57P01
    psycopg.errors.CannotConnectNow("the database system is starting up"),  # 57P03
    psycopg.errors.QueryCanceled("statement timeout"),  # 57014
    psycopg.errors.DiskFull("no space left"),  # class 53
    psycopg.errors.TooManyConnections("too many clients"),  # 53300
    psycopg.errors.IoError("could not read block"),  # class 58
    psycopg.errors.SerializationFailure("could not serialize"),  # 40001
    psycopg.errors.DeadlockDetected("deadlock"),  # 40P01
]
REFUSALS: list[BaseException] = [
    psycopg.errors.InvalidTextRepresentation("invalid input syntax"),  # class 22
    psycopg.errors.NumericValueOutOfRange("out of range"),  # 22003
    psycopg.errors.UniqueViolation("duplicate key"),  # class 23
    psycopg.errors.NotNullViolation("null"),  # 23502
    psycopg.errors.ProgramLimitExceeded("index row size"),  # class 54
    psycopg.errors.RaiseException("refused by a trigger"),  # class P0: a RAISE in PL/pgSQL
    psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),  # the driver's
    psycopg.IntegrityError("the driver's"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),  # encoding a value
    OverflowError("int too big to convert"),
]
RETRIED_NOT_OUTAGES = [
    psycopg.errors.UndefinedTable("relation does not exist"),  # 42P01: a schema missing after a restore
    psycopg.errors.UndefinedColumn("column does not exist"),  # 42703
    psycopg.errors.InsufficientPrivilege("permission denied"),  # 42501
    psycopg.errors.SyntaxError("syntax error"),  # 42601: a bad query, fixed by a fix
    psycopg.errors.InvalidSchemaName("no schema"),  # class 3F
    psycopg.errors.InternalError_("internal error"),  # class XX
    psycopg.ProgrammingError("the query has 2 placeholders but 1 parameters were passed"),
    psycopg.InterfaceError("the connection is closed"),
]


@pytest.mark.parametrize("error", OUTAGES, ids=lambda e: type(e).__name__)
def test_an_outage_is_retried(error: BaseException) -> None:
    assert is_outage(error) and is_transient(error) and not is_refusal(error)


@pytest.mark.parametrize("error", REFUSALS, ids=lambda e: type(e).__name__)
def test_a_refusal_of_the_data_is_not_retried(error: BaseException) -> None:
    assert is_refusal(error) and not is_transient(error) and not is_outage(error)


@pytest.mark.parametrize("error", RETRIED_NOT_OUTAGES, ids=lambda e: type(e).__name__)
def test_any_other_database_error_is_retried_but_not_an_outage(error: BaseException) -> None:
    """Neither the rows' fault nor the database away: retried (nothing dead-lettered), logged
    as an error with its traceback by ``semon.periodic``."""
    assert is_transient(error) and not is_refusal(error) and not is_outage(error)


@pytest.mark.parametrize("error", [KeyError("bug"), RuntimeError("bug"), TimeoutError("not the database's")])
def test_what_is_not_from_the_database_is_neither(error: BaseException) -> None:
    assert not is_transient(error) and not is_refusal(error) and not is_outage(error)


def test_the_ingester_and_the_rules_engine_share_the_rule() -> None:
    """The engine retries what the ingester retries: one function, the kernel's."""
    import alerts.engine
    import ingest.service

    assert vars(alerts.engine)["is_transient"] is vars(ingest.service)["is_transient"] is is_transient
