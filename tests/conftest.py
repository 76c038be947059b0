from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.bank import Bank, load_bank
from bot.clock import ManualClock
from bot.service import Actor, StudyService
from bot.storage import Database, open_database, open_store
from tests import pgserver

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_BANK = Path(__file__).resolve().parent / "data" / "bank"
SHIPPED_BANK = ROOT / "questions"


@pytest.fixture
def bank() -> Bank:
    return load_bank(FIXTURE_BANK)


@pytest.fixture
def clock() -> ManualClock:
    # A Wednesday, mid-morning UTC.
    return ManualClock(datetime(2026, 11, 18, 10, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def postgres() -> Iterator[pgserver.Server]:
    """One real PostgreSQL server for the whole run; each test that wants one gets a fresh database on it."""
    server = pgserver.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The storage contract: every test that uses `db` (or `service`) runs once on each backend."""
    return str(request.param)


@pytest.fixture
async def db(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    if backend == "postgresql":
        server: pgserver.Server = request.getfixturevalue("postgres")
        database = await open_store(server.new_database())
    else:
        database = await open_database(tmp_path / "studybot.sqlite3")
    yield database
    await database.close()


@pytest.fixture
async def service(db: Database, bank: Bank, clock: ManualClock) -> StudyService:
    svc = StudyService(db, bank, clock, rng=random.Random(7))
    await svc.sync_bank()
    return svc


def actor(name: str, *, admin: bool = False, channel: str = "general", community: str = "team") -> Actor:
    return Actor("console", community, channel, name, name, is_admin=admin)
