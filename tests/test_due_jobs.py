"""`due_jobs`, the pure planning function of the scheduler, tested directly (no database, no clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from bot.domain import ChannelSettings
from bot.schedule import DAILY, DIGEST, REVEAL, due_jobs

BERLIN = ChannelSettings(
    id=1, community_id=1, external_id="c", enabled=True, paused=False, post_time="09:00", timezone="Europe/Berlin",
    weekdays=("mon", "tue", "wed", "thu", "fri"), topics=(), difficulties=(), reveal_minutes=None,
    digest_channel="c", digest_weekday="mon", digest_time="10:00", configured_by="admin",
    enabled_at="2026-11-01T00:00:00.000+00:00", platform="console", community_external="t")
CATCHUP = timedelta(hours=6)


def test_a_weekday_morning_is_due_after_its_local_time_only() -> None:
    monday = datetime(2026, 11, 16, 7, 59, tzinfo=UTC)  # 08:59 in Berlin
    assert due_jobs([BERLIN], set(), {}, monday, CATCHUP) == []
    jobs = due_jobs([BERLIN], set(), {}, monday + timedelta(minutes=1), CATCHUP)
    assert [(j.kind, j.local_date, j.skip) for j in jobs] == [(DAILY, date(2026, 11, 16), False)]


def test_done_jobs_and_paused_channels_are_not_due() -> None:
    now = datetime(2026, 11, 16, 8, 30, tzinfo=UTC)
    assert due_jobs([BERLIN], {(1, DAILY, "2026-11-16")}, {}, now, CATCHUP) == []
    assert due_jobs([replace(BERLIN, paused=True)], set(), {}, now, CATCHUP) == []


def test_a_post_missed_beyond_the_catch_up_window_is_marked_skip() -> None:
    late = datetime(2026, 11, 16, 8, 0, tzinfo=UTC) + CATCHUP + timedelta(minutes=1)
    no_digest = replace(BERLIN, digest_time=None)
    [job] = due_jobs([no_digest], set(), {}, late, CATCHUP)
    assert job.kind == DAILY and job.skip
    [job] = due_jobs([no_digest], set(), {}, late, CATCHUP + timedelta(hours=1))
    assert not job.skip


def test_reveal_comes_before_the_next_question_and_the_digest_after_it() -> None:
    monday = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)  # 10:30 Berlin, Monday
    posted_friday = {(1, "2026-11-13"): False}
    done = {(1, DAILY, "2026-11-13")}
    since_friday = replace(BERLIN, enabled_at="2026-11-13T07:00:00.000+00:00")
    jobs = due_jobs([since_friday], done, posted_friday, monday, timedelta(days=4))
    assert [j.kind for j in jobs] == [REVEAL, DAILY, DIGEST]
    assert jobs[0].local_date == date(2026, 11, 13)
    assert jobs[0].due_at == datetime(2026, 11, 16, 7, 55, tzinfo=UTC)  # 5 minutes before Monday's 09:00


def test_nine_oclock_stays_nine_oclock_across_the_dst_change() -> None:
    after = datetime(2026, 10, 26, 8, 0, tzinfo=UTC)  # Monday after the October change: 09:00 CET
    early = replace(BERLIN, enabled_at="2026-10-20T00:00:00.000+00:00")
    [job] = due_jobs([early], {(1, DAILY, d) for d in ("2026-10-21", "2026-10-22", "2026-10-23")}, {}, after,
                     CATCHUP)
    assert job.due_at == after and job.local_date == date(2026, 10, 26)
