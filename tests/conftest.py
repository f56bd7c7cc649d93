"""Fixtures: a real PostgreSQL with TimescaleDB and a real Mosquitto, started from the system's
binaries on free ports by the same code as ``semon up``."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings

from semon.db import apply_migrations
from semon.stack import MosquittoServer, PostgresServer

_db_numbers = itertools.count(1)

# Property tests run on a shared, loaded machine: a slow example is not a failure (no deadline);
# a failure prints the blob that replays it.
hypothesis_settings.register_profile("semon", deadline=None, print_blob=True)
hypothesis_settings.load_profile("semon")


@pytest.fixture(scope="session")
def stack_root() -> Iterator[Path]:
    # Under /var/tmp and world-traversable: as root, PostgreSQL runs as 'postgres' and must reach it.
    root = Path(tempfile.mkdtemp(prefix="semon-test-", dir="/var/tmp"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def postgres(stack_root: Path) -> AsyncIterator[PostgresServer]:
    server = PostgresServer(stack_root / "postgres")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def database_url(postgres: PostgresServer) -> AsyncIterator[str]:
    """A fresh, migrated database for each test."""
    name = f"test_{os.getpid()}_{next(_db_numbers)}"
    async with await psycopg.AsyncConnection.connect(postgres.url_for("postgres"), autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres.url_for(name)
    await apply_migrations(url)
    yield url


@pytest.fixture
async def mosquitto(stack_root: Path) -> AsyncIterator[MosquittoServer]:
    """A broker of the test's own: persistent sessions cannot leak between tests."""
    server = MosquittoServer(Path(tempfile.mkdtemp(prefix="mosquitto-", dir=stack_root)))
    await server.start()
    yield server
    await server.stop()
