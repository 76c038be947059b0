"""The shared adapter runtime: coalesced card refreshes and in-flight tracking."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.runtime import CardRefresher, InFlight


async def test_a_burst_of_answers_costs_a_few_refreshes_showing_the_latest() -> None:
    seen: list[int] = []

    async def refresh(key: str, item: int) -> bool:
        await asyncio.sleep(0.01)
        seen.append(item)
        return True

    cards: CardRefresher[str, int] = CardRefresher(refresh)
    for n in range(100):
        cards.submit("card", n)
        await asyncio.sleep(0)
    await cards.drain()
    assert seen[-1] == 99 and len(seen) <= 5
    assert not cards.busy


async def test_refreshes_of_one_card_keep_their_interval() -> None:
    times: list[float] = []

    async def refresh(key: str, item: int) -> bool:
        times.append(time.monotonic())
        return True

    cards: CardRefresher[str, int] = CardRefresher(refresh, interval=0.2)
    cards.submit("card", 1)
    await asyncio.sleep(0.01)
    cards.submit("card", 2)
    cards.submit("other", 3)  # another card is not held back
    await cards.drain()
    assert len(times) == 3
    assert max(times) - min(times) >= 0.19


async def test_a_card_gone_for_good_drops_what_is_pending() -> None:
    calls: list[int] = []

    async def refresh(key: str, item: int) -> bool:
        calls.append(item)
        await asyncio.sleep(0.01)
        return False

    cards: CardRefresher[str, int] = CardRefresher(refresh)
    cards.submit("card", 1)
    await asyncio.sleep(0)
    cards.submit("card", 2)
    await cards.drain()
    assert calls == [1]


async def test_in_flight_drains_and_times_out() -> None:
    inflight = InFlight()
    release = asyncio.Event()

    async def interaction() -> None:
        with inflight.track():
            await release.wait()

    task = asyncio.create_task(interaction())
    await asyncio.sleep(0)
    assert len(inflight) == 1
    assert await inflight.drain(0.05) is False
    release.set()
    assert await inflight.drain(1) is True
    await task
    assert len(inflight) == 0


async def test_slow_work_is_acknowledged_first_and_fast_work_is_not() -> None:
    from adapters.runtime import acknowledged_in_time

    acks: list[str] = []

    async def ack() -> None:
        acks.append("ack")

    async def work(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    assert await acknowledged_in_time(work(0), 0.2, ack) == "done"
    assert acks == []
    assert await acknowledged_in_time(work(0.1), 0.02, ack) == "done"
    assert acks == ["ack"]


async def test_work_finishes_even_when_the_acknowledgement_fails() -> None:
    from adapters.runtime import acknowledged_in_time

    finished = asyncio.Event()

    async def failing_ack() -> None:
        raise RuntimeError("interaction expired")

    async def work() -> None:
        await asyncio.sleep(0.05)
        finished.set()

    with pytest.raises(RuntimeError, match="expired"):  # the failed acknowledgement is reported
        await acknowledged_in_time(work(), 0.01, failing_ack)
    await asyncio.wait_for(finished.wait(), 1)  # the committed work still ran to its end


async def test_group_commit_batches_what_arrives_meanwhile_and_reports_failures_to_their_callers() -> None:
    from bot.batching import GroupCommit

    batches: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        if 13 in items:
            raise ValueError("unlucky batch")
        return [i * 2 for i in items]

    commit: GroupCommit[int, int] = GroupCommit(write, max_batch=4)
    assert await asyncio.gather(*(commit.submit(i) for i in range(10))) == [i * 2 for i in range(10)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]  # what queued meanwhile, at most 4 at a time
    results = await asyncio.gather(commit.submit(12), commit.submit(13), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)  # one transaction: both callers learn it failed
    assert await commit.submit(1) == 2  # and the next batch is written as usual
