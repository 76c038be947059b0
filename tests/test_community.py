"""A community's own questions: imported into the database, served only to that community, mixed into its
practice and daily pools, exported back as bank YAML."""

from __future__ import annotations

import asyncio
import io
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.bank import Bank, load_bank
from bot.clock import ManualClock
from bot.dispatch import Dispatcher, Quiz, Reply
from bot.schedule import Scheduler
from bot.service import Actor, StudyService
from bot.storage import open_database
from bot.tools import bank_export, bank_import

CSV = """question,answer,correct,wrong1,wrong2,wrong3,difficulty
What does our feature store cache?,Features computed for online serving.,Online features,Raw logs,Model weights,Labels,easy
How long do we keep training data?,Ninety days in the lake. Older data is archived.,,,,,medium
"""
TEAM = Actor("console", "team", "general", "ada", "Ada", is_admin=True)
OTHER = Actor("console", "other-team", "general", "bo", "Bo", is_admin=True)


async def start(path: Path, bank: Bank) -> StudyService:
    service = StudyService(await open_database(path), bank,
                           ManualClock(datetime(2026, 11, 18, 10, tzinfo=UTC)), rng=random.Random(3))
    await service.sync_bank()
    return service


async def import_for(tmp_path: Path, community: str) -> str:
    (tmp_path / "ours.csv").write_text(CSV)
    out = io.StringIO()
    code = await asyncio.to_thread(bank_import, tmp_path / "ours.csv", fmt=None, topic="our-stack", out_dir=None, force=False, out=out,
                       community=community, database=tmp_path / "db.sqlite3")
    assert code == 0, out.getvalue()
    return out.getvalue()


async def test_own_questions_are_served_to_their_community_only(tmp_path: Path, bank: Bank) -> None:
    service = await start(tmp_path / "db.sqlite3", bank)
    await service.member_id(TEAM)
    await service.member_id(OTHER)
    await service.db.close()
    assert "2 new, 0 updated" in await import_for(tmp_path, "team")
    assert "0 new, 2 updated" in await import_for(tmp_path, "console:team")  # re-import updates in place

    service = await start(tmp_path / "db.sqlite3", bank)
    try:
        card = await service.quiz(TEAM, "our stack", "easy")
        assert card.post_id is not None
        view = await service.post_view(card.post_id)
        assert view.question.question == "What does our feature store cache?" and view.question.id.startswith("c")
        result = await service.answer_choice(TEAM, card.post_id, view.order.index(0))
        assert result.recorded and "Correct" in result.feedback.body
        [refused] = await Dispatcher(service).run(OTHER, Quiz("our-stack"))
        assert isinstance(refused, Reply) and "I don't know the topic" in refused.message.body
        shipped = await service.quiz(OTHER, "training")  # the shipped bank is still there for everyone
        assert shipped.post_id is not None

        await service.setup(TEAM, topics="our-stack")  # a channel can choose its own topics for the daily
        channel = await service.channel_settings(await service.channel_id(TEAM))
        daily = await Scheduler(service, {}).choose_daily(channel)
        assert daily.topic == "our-stack"
    finally:
        await service.db.close()


async def test_export_round_trips_and_errors_are_clear(tmp_path: Path, bank: Bank) -> None:
    service = await start(tmp_path / "db.sqlite3", bank)
    await service.member_id(TEAM)
    await service.db.close()
    await import_for(tmp_path, "team")
    out = io.StringIO()
    assert await asyncio.to_thread(bank_export, tmp_path / "db.sqlite3", "team", tmp_path / "exported", force=False, out=out) == 0
    exported = load_bank(tmp_path / "exported")
    assert set(exported.questions) == {"what-does-our-feature-store-cache", "how-long-do-we-keep-training-data"}
    assert exported.questions["what-does-our-feature-store-cache"].choices is not None

    again = io.StringIO()  # and back into another community: the round trip
    service = await start(tmp_path / "db.sqlite3", bank)
    await service.member_id(OTHER)
    await service.db.close()
    assert await asyncio.to_thread(bank_import, tmp_path / "exported" / "our-stack.yaml", fmt=None, topic=None, out_dir=None, force=False,
                       out=again, community="other-team", database=tmp_path / "db.sqlite3") == 0
    assert "(bank)" in again.getvalue() and "2 new" in again.getvalue()
    missing = io.StringIO()
    assert await asyncio.to_thread(bank_export, tmp_path / "db.sqlite3", "nobody", tmp_path / "x", force=False, out=missing) == 1
    assert "no community 'nobody'" in missing.getvalue()


@pytest.mark.parametrize("community", ["nobody", "slack:team"])
def test_importing_for_an_unknown_community_imports_nothing(tmp_path: Path, community: str) -> None:
    import asyncio

    async def prepare() -> None:
        db = await open_database(tmp_path / "db.sqlite3")
        await db.close()

    asyncio.run(prepare())
    (tmp_path / "ours.csv").write_text(CSV)
    out = io.StringIO()
    assert bank_import(tmp_path / "ours.csv", fmt=None, topic=None, out_dir=None, force=False, out=out,
                       community=community, database=tmp_path / "db.sqlite3") == 1
    assert "no community" in out.getvalue() and "nothing was imported" in out.getvalue()
