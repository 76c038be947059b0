"""The Discord adapter with the real discord.py, unmodified, against a local fake Discord (REST + gateway).

Every test ends by checking that the fake saw nothing a real Discord would refuse (limits, a second or
late response, a message sent without `allowed_mentions` none, a request to an unknown endpoint).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

import adapters.discord.adapter as discord_adapter
from adapters.discord.adapter import DiscordPlatform, endpoints
from adapters.serve import build_platform, serve
from bot.bank import Bank
from bot.clock import ManualClock
from bot.config import Settings
from bot.errors import ConfigError
from bot.messages import Image, Message
from bot.schedule import Scheduler
from bot.service import Actor, StudyService
from bot.storage import open_database
from tests.conftest import FIXTURE_BANK
from tests.fakes.discord_server import EPHEMERAL, PRIVILEGED_INTENTS, TOKEN, FakeDiscord, Interaction

FAST = {"guild_ready_timeout": 0.05, "publish_retry_delays": (0.01, 0.02, 0.04)}
# The smallest valid PNG, for an attachment.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360"
                    "0000000200015e2e2a330000000049454e44ae426082")


def settings_for(fake: FakeDiscord, **extra: Any) -> Settings:
    values: dict[str, Any] = {"discord_token": TOKEN, "discord_api_base": fake.api_base,
                              "discord_gateway_url": fake.gateway_url}
    return Settings(**{**values, **extra})


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def bot(fake: FakeDiscord, service: StudyService) -> AsyncIterator[DiscordPlatform]:
    platform = DiscordPlatform(service, settings_for(fake), **FAST)  # type: ignore[arg-type]
    await platform.start()
    yield platform
    await platform.stop()
    assert fake.problems() == []


# ----------------------------------------------------------------- helpers
def text_of(message: dict[str, Any]) -> str:
    """Everything a member reads in a message: content, embed title, description, fields, footer."""
    parts = [message.get("content") or ""]
    for e in message.get("embeds") or []:
        parts += [e.get("title") or "", (e.get("author") or {}).get("name", ""), e.get("description") or ""]
        parts += [f"{f['name']}\n{f['value']}" for f in e.get("fields") or []]
        parts.append((e.get("footer") or {}).get("text", ""))
    return "\n".join(p for p in parts if p)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row.get("components") or []
            if "custom_id" in c]


def footer(message: dict[str, Any]) -> str:
    embeds = message.get("embeds") or []
    return (embeds[0].get("footer") or {}).get("text", "") if embeds else ""


def post_id_of(message: dict[str, Any]) -> int:
    words = next(c for c in custom_ids(message) if c.startswith("sb:w:"))
    return int(words.split(":")[2])


async def correct_option(service: StudyService, post_id: int) -> int:
    row = await service.db.fetchone("SELECT choice_order FROM posts WHERE id = ?", (post_id,))
    assert row is not None
    return list(json.loads(row[0])).index(0)  # the shown position of the bank's correct option


async def quiz_card(fake: FakeDiscord, topic: str = "statistics", difficulty: str = "easy") -> dict[str, Any]:
    interaction = await fake.slash("quiz", {"topic": topic, "difficulty": difficulty})
    card = await fake.reply(interaction)
    assert not card["flags"] & EPHEMERAL
    return card


def is_ephemeral(message: dict[str, Any]) -> bool:
    return bool(message["flags"] & EPHEMERAL)


# ----------------------------------------------------------------- login and commands
async def test_login_identify_and_synced_command_schemas(fake: FakeDiscord, bot: DiscordPlatform) -> None:
    assert fake.identify is not None
    assert fake.identify["intents"] == discord.Intents.default().value
    assert fake.identify["intents"] & PRIVILEGED_INTENTS == 0
    assert [where for where, _ in fake.command_syncs] == ["global"]
    commands = {c["name"]: c for c in fake.global_commands}
    assert sorted(commands) == ["daily", "leaderboard", "question", "quiz", "stats", "studybot"]
    assert {o.name for o in bot.synced} == set(commands)

    quiz = {o["name"]: o for o in commands["quiz"]["options"]}
    assert quiz["topic"]["type"] == 3 and quiz["topic"]["autocomplete"] is True and not quiz["topic"]["required"]
    assert [c["value"] for c in quiz["difficulty"]["choices"]] == ["easy", "medium", "hard"]
    assert quiz["private"]["type"] == 5
    for name in ("quiz", "daily", "leaderboard", "stats", "question"):
        assert commands[name]["default_member_permissions"] is None
        assert commands[name]["contexts"] == [0] and commands[name]["dm_permission"] is False
        assert commands[name]["integration_types"] == [0]
    board = {o["name"]: o for o in commands["leaderboard"]["options"]}
    assert [c["value"] for c in board["period"]["choices"]] == ["week", "month", "30d", "all"]
    assert board["topic"]["autocomplete"] is True
    assert commands["stats"]["options"][0]["type"] == 6  # a user

    admin = commands["studybot"]
    assert str(admin["default_member_permissions"]) == str(discord.Permissions(manage_guild=True).value) == "32"
    assert admin["contexts"] == [0] and admin["dm_permission"] is False
    subs = {o["name"]: o for o in admin["options"]}
    assert sorted(subs) == ["appeals", "digest", "pause", "pool", "question", "resume", "review", "setup", "status"]
    assert all(s["type"] == 1 for name, s in subs.items() if name != "question")
    assert subs["question"]["type"] == 2 and [o["name"] for o in subs["question"]["options"]] == ["add"]
    assert [o["name"] for o in commands["question"]["options"]] == ["add"]  # members write theirs with /question add
    assert [c["value"] for c in subs["pool"]["options"][0]["choices"]] == ["both", "shipped", "own"]
    setup = [(o["name"], o["type"], o.get("required", False)) for o in subs["setup"]["options"]]
    assert setup == [("channel", 7, True), ("time", 3, True), ("timezone", 3, True), ("days", 3, False),
                     ("topics", 3, False)]
    channel = subs["setup"]["options"][0]
    assert channel["channel_types"] == [0, 5]
    digest = {o["name"]: o for o in subs["digest"]["options"]}
    assert [c["value"] for c in digest["day"]["choices"]] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


async def test_commands_sync_to_one_server_when_configured(fake: FakeDiscord, service: StudyService) -> None:
    platform = DiscordPlatform(service, settings_for(fake, discord_guild=str(fake.guild_id)), **FAST)  # type: ignore[arg-type]
    await platform.start()
    try:
        assert fake.global_commands == []
        assert sorted(c["name"] for c in fake.guild_commands[fake.guild_id]) == [
            "daily", "leaderboard", "question", "quiz", "stats", "studybot"]
        card = await quiz_card(fake)  # the interaction names the guild command
        assert custom_ids(card)
    finally:
        await platform.stop()
    assert fake.problems() == []


async def test_endpoint_settings_route_discord_py_and_are_restored(fake: FakeDiscord, service: StudyService) -> None:
    before = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    platform = build_platform("discord", service, settings_for(fake))
    assert isinstance(platform, DiscordPlatform)
    platform.guild_ready_timeout = 0.05
    await platform.start()
    assert fake.api_base == Route.BASE
    assert str(DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
    await platform.stop()
    assert before == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    assert {r.path for r in fake.requests} >= {"/api/v10/users/@me", "/api/v10/oauth2/applications/@me"}


async def test_studybot_run_platform_discord_serves_until_stopped(fake: FakeDiscord, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """What `studybot run --platform discord` runs: serve() builds the adapter from the settings alone."""
    monkeypatch.setattr(discord_adapter, "GUILD_READY_TIMEOUT", 0.05)
    settings = settings_for(fake, database=tmp_path / "served.sqlite3", questions=FIXTURE_BANK)
    stop = asyncio.Event()
    served = asyncio.create_task(serve(settings, ["discord"], stop))
    try:
        await fake.wait_until(lambda: (fake.sessions and fake.global_commands) or served.done(), within=20)
        assert not served.done()
        card = await quiz_card(fake)
        reply = await fake.reply(await fake.click(card, f"sb:r:{post_id_of(card)}"))
        assert reply["embeds"][0]["title"] == "Answer"
    finally:
        stop.set()
        assert await asyncio.wait_for(served, 30) == 0
    await fake.wait_until(lambda: not fake.sessions)
    assert fake.problems() == []


def test_endpoint_settings_are_checked() -> None:
    assert endpoints(Settings()) == (None, None)
    api, gateway = endpoints(Settings(discord_api_base="http://proxy:8080/", discord_gateway_url="wss://gw.example"))
    assert api == "http://proxy:8080/api/v10" and str(gateway) == "wss://gw.example"
    assert endpoints(Settings(discord_api_base="https://proxy/api/v9"))[0] == "https://proxy/api/v9"
    with pytest.raises(ConfigError):
        endpoints(Settings(discord_api_base="proxy:8080"))
    with pytest.raises(ConfigError):
        endpoints(Settings(discord_gateway_url="http://gw.example"))
    with pytest.raises(ConfigError):
        endpoints(Settings(discord_guild="my-server"))


async def test_a_wrong_token_fails_start(fake: FakeDiscord, service: StudyService) -> None:
    platform = DiscordPlatform(service, settings_for(fake, discord_token="not-the-token"), **FAST)  # type: ignore[arg-type]
    with pytest.raises(discord.LoginFailure):
        await platform.start()
    assert fake.api_base != Route.BASE  # restored


# ----------------------------------------------------------------- slash commands
async def test_topic_autocomplete_filters_as_the_member_types(fake: FakeDiscord, bot: DiscordPlatform) -> None:
    typed = await fake.autocomplete("quiz", "topic", {"topic": "stat"})
    answer = await fake.answer(typed)
    assert answer["type"] == 8
    choices = answer["data"]["choices"]
    assert choices[0] == {"name": "Statistics basics", "value": "statistics"}
    assert len(choices) <= 25
    everything = await fake.answer(await fake.autocomplete("leaderboard", "topic", {"topic": ""}))
    assert {c["value"] for c in everything["data"]["choices"]} == {"statistics", "training"}
    zones = await fake.answer(await fake.autocomplete("studybot", "timezone", {"timezone": "europe/ber"},
                                                      subcommand="setup", member=fake.member(admin=True)))
    assert {"name": "Europe/Berlin", "value": "Europe/Berlin"} in zones["data"]["choices"]
    topics = await fake.answer(await fake.autocomplete("studybot", "topics", {"topics": "statistics, tra"},
                                                       subcommand="setup", member=fake.member(admin=True)))
    assert [c["value"] for c in topics["data"]["choices"]] == ["statistics,training"]


async def test_quiz_with_a_topic_posts_a_public_card(fake: FakeDiscord, bot: DiscordPlatform,
                                                     service: StudyService) -> None:
    interaction = await fake.slash("quiz", {"topic": "statistics", "difficulty": "easy"})
    answer = await fake.answer(interaction)
    assert answer["type"] == 4
    card = await fake.reply(interaction)
    assert not is_ephemeral(card)
    embed = card["embeds"][0]
    assert embed["title"] == "Practice question · statistics · easy"
    assert "**What is a p-value?**" in embed["description"]
    post = post_id_of(card)
    ids = custom_ids(card)
    assert ids == [f"sb:a:{post}:{n}" for n in range(4)] + [f"sb:w:{post}", f"sb:r:{post}"]
    assert [len(row["components"]) for row in card["components"]] == [4, 2]  # options, then actions
    assert answer["data"]["allowed_mentions"] == {"parse": []}
    await bot.settled()
    assert await service.message_ref(post) == card["id"]


async def test_private_quiz_is_ephemeral_and_unknown_topic_is_explained(fake: FakeDiscord,
                                                                        bot: DiscordPlatform) -> None:
    private = await fake.reply(await fake.slash("quiz", {"topic": "training", "private": True}))
    assert is_ephemeral(private) and private["embeds"][0]["title"].startswith("Practice question · training")
    wrong = await fake.reply(await fake.slash("quiz", {"topic": "statz"}))
    assert is_ephemeral(wrong)
    assert "I don't know the topic “statz”. Did you mean: statistics" in wrong["content"]


async def test_daily_leaderboard_and_stats(fake: FakeDiscord, bot: DiscordPlatform, service: StudyService) -> None:
    daily = await fake.reply(await fake.slash("daily"))
    assert is_ephemeral(daily) and "no daily question yet" in daily["content"]
    alice = fake.member("Alice")
    card = await quiz_card(fake)
    post = post_id_of(card)
    right = await fake.click(card, f"sb:a:{post}:{await correct_option(service, post)}", member=alice)
    await fake.reply(right)
    board = await fake.reply(await fake.slash("leaderboard", {"period": "all"}))
    assert not is_ephemeral(board)
    assert board["embeds"][0]["title"] == "Leaderboard · all time"
    assert "Alice" in board["embeds"][0]["description"]
    topic_board = await fake.reply(await fake.slash("leaderboard", {"topic": "training"}))
    assert "No points scored yet" in text_of(topic_board)
    mine = await fake.reply(await fake.slash("stats", member=alice))
    assert is_ephemeral(mine) and mine["embeds"][0]["title"] == "Stats for Alice"
    theirs = await fake.reply(await fake.slash("stats", {"member": alice}, member=fake.member("Bob")))
    assert theirs["embeds"][0]["title"] == "Stats for Alice"
    nobody = await fake.reply(await fake.slash("stats", {"member": fake.member("Carol")}))
    assert "Carol has not answered anything yet." in nobody["content"]


# ----------------------------------------------------------------- buttons and modals
async def test_answer_buttons_by_several_members_one_correct_and_a_duplicate(
        fake: FakeDiscord, bot: DiscordPlatform, service: StudyService) -> None:
    card = await quiz_card(fake)
    post = post_id_of(card)
    correct = await correct_option(service, post)
    members = [fake.member(name) for name in ("Ann", "Ben", "Cat", "Dan")]
    # Each member presses a different option, all at once; exactly one of them is the right one.
    clicks = [await fake.click(card, f"sb:a:{post}:{n}", member=m) for n, m in enumerate(members)]
    replies = await asyncio.gather(*(fake.reply(c) for c in clicks))
    assert all(is_ephemeral(r) for r in replies)
    verdicts = [r["content"].splitlines()[0] for r in replies]
    assert verdicts.count("✅ Correct!") == 1 and verdicts.count("❌ Not quite.") == 3
    assert verdicts[correct] == "✅ Correct!"
    assert "You picked:" in replies[(correct + 1) % 4]["content"]
    # The public card is edited with the count, whatever order the answers finished in.
    await fake.wait_until(lambda: any(footer(e) == "4 people have answered." for e in fake.edits_of(card["id"])))
    await bot.settled()
    assert footer(fake.messages[int(card["id"])]) == "4 people have answered."
    edits = len(fake.edits_of(card["id"]))
    assert 1 <= edits <= 4

    again = await fake.click(card, f"sb:a:{post}:{correct}", member=members[0])
    reply = await fake.reply(again)
    assert is_ephemeral(reply)
    assert reply["content"] == "You have already answered this one; only your first answer counts."
    await bot.settled()
    assert len(fake.edits_of(card["id"])) == edits  # a duplicate changes nothing
    row = await service.db.fetchone("SELECT answered, correct FROM posts WHERE id = ?", (post,))
    assert row is not None and (row[0], row[1]) == (4, 1)
    attempts = await service.db.fetchone("SELECT COUNT(*) FROM attempts WHERE post_id = ?", (post,))
    assert attempts is not None and attempts[0] == 4


async def test_answer_in_words_opens_a_modal_and_grades_the_answer(fake: FakeDiscord, bot: DiscordPlatform,
                                                                  service: StudyService) -> None:
    card = await quiz_card(fake)
    post = post_id_of(card)
    member = fake.member("Writer")
    opened = await fake.click(card, f"sb:w:{post}", member=member)
    answer = await fake.answer(opened)
    assert answer["type"] == 9
    modal = answer["data"]
    assert modal["custom_id"] == f"sb:w:{post}" and modal["title"] == "Answer in words"
    shown = [c for c in modal["components"] if c["type"] == 10]
    assert shown and "What is a p-value?" in shown[0]["content"]
    label = next(c for c in modal["components"] if c["type"] == 18)
    assert label["component"]["custom_id"] == "answer" and label["component"]["max_length"] == 4000

    submitted = await fake.submit_modal(opened, {
        "answer": "The probability of data at least as extreme as observed, assuming the null hypothesis is true."})
    feedback = await fake.reply(submitted)
    assert is_ephemeral(feedback)
    assert "Score: 100%" in text_of(feedback)
    await fake.wait_until(lambda: any(footer(e) == "1 person has answered." for e in fake.edits_of(card["id"])))
    # The modal was not kept in discord.py's memory: submits are routed by custom id like buttons.
    assert bot.client is not None and not bot.client._connection._view_store._modals

    empty = await fake.submit_modal(opened, {"answer": "   "}, member=fake.member("Blank"))
    assert "Your answer is empty" in (await fake.reply(empty))["content"]


async def test_reveal_more_and_rating_buttons(fake: FakeDiscord, bot: DiscordPlatform) -> None:
    card = await quiz_card(fake)
    post = post_id_of(card)
    reveal = await fake.reply(await fake.click(card, f"sb:r:{post}"))
    assert is_ephemeral(reveal) and reveal["embeds"][0]["title"] == "Answer"
    assert f"sb:s:{post}:good" in custom_ids(reveal)
    rated = await fake.reply(await fake.click(reveal, f"sb:s:{post}:good", channel_id=fake.channel_id))
    assert rated["content"].startswith("Noted (good).")
    more = await fake.reply(await fake.click(reveal, f"sb:m:{post}", channel_id=fake.channel_id))
    assert is_ephemeral(more) and more["embeds"][0]["title"] == "More on this question"


async def test_unknown_post_gets_a_clear_private_message(fake: FakeDiscord, bot: DiscordPlatform) -> None:
    card = await quiz_card(fake)
    for stale in ("sb:a:999999:0", "sb:w:999999", "sb:zzz", "sb:r:notanumber"):
        reply = await fake.reply(await fake.click(card, stale))
        assert is_ephemeral(reply)
        assert reply["content"].startswith("I can't find that question any more.")
    other = await fake.click(card, "someone-elses-button")
    # Not ours: left alone for whoever owns it. Events are handled in order, so once a later click has its
    # answer the foreign one has been seen and ignored.
    await fake.reply(await fake.click(card, "sb:a:999999:0"))
    assert other.callbacks == []


async def test_restart_on_the_same_database_then_an_old_button(fake: FakeDiscord, bank: Bank, clock: ManualClock,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "studybot.sqlite3"

    async def boot() -> tuple[DiscordPlatform, StudyService]:
        db = await open_database(path)
        service = StudyService(db, bank, clock, rng=random.Random(7))
        await service.sync_bank()
        platform = DiscordPlatform(service, settings_for(fake), **FAST)  # type: ignore[arg-type]
        await platform.start()
        return platform, service

    first, service = await boot()
    card = await quiz_card(fake)
    post = post_id_of(card)
    await first.stop()
    await service.db.close()
    await fake.wait_until(lambda: not fake.sessions)

    second, service = await boot()
    try:
        assert len(fake.command_syncs) == 2
        click = await fake.click(card, f"sb:a:{post}:{await correct_option(service, post)}",
                                 member=fake.member("Late"))
        assert (await fake.reply(click))["content"].startswith("✅ Correct!")
        await fake.wait_until(lambda: any(footer(e) == "1 person has answered." for e in fake.edits_of(card["id"])))
    finally:
        await second.stop()
        await service.db.close()
    assert fake.problems() == []


# ----------------------------------------------------------------- admin
async def test_admin_commands_need_manage_server(fake: FakeDiscord, bot: DiscordPlatform,
                                                 service: StudyService) -> None:
    options = {"channel": fake.channel_id, "time": "09:00", "timezone": "Europe/Berlin"}
    refused = await fake.reply(await fake.slash("studybot", options, subcommand="setup", member=fake.member("Bob")))
    assert is_ephemeral(refused)
    assert refused["content"] == "Only server admins can use /studybot setup."
    assert await service.scheduled_channels() == []
    for sub in ("pause", "status"):
        reply = await fake.reply(await fake.slash("studybot", subcommand=sub, member=fake.member("Bob")))
        assert reply["content"].startswith("Only server admins can use")

    manager = fake.member("Mia", permissions=(1 << 5) | (1 << 10) | (1 << 11))  # Manage Server, no admin
    done = await fake.reply(await fake.slash("studybot", {**options, "days": "mon,wed,fri", "topics": "statistics"},
                                             subcommand="setup", member=manager))
    assert is_ephemeral(done)
    assert "Daily question: active, 09:00 Europe/Berlin on mon, wed, fri" in text_of(done)
    [channel] = await service.scheduled_channels()
    assert channel.external_id == str(fake.channel_id) and channel.topics == ("statistics",)
    digest = await fake.reply(await fake.slash("studybot", {"channel": fake.other_channel_id, "day": "fri",
                                                            "time": "17:00"}, subcommand="digest", member=manager))
    assert digest["content"] == "The weekly digest will be posted every Fri at 17:00."
    paused = await fake.reply(await fake.slash("studybot", subcommand="pause", member=manager))
    assert paused["content"].startswith("Paused")
    resumed = await fake.reply(await fake.slash("studybot", subcommand="resume", member=manager))
    assert resumed["content"].startswith("Resumed")
    bad = await fake.reply(await fake.slash("studybot", {**options, "time": "9 o'clock"}, subcommand="setup",
                                            member=manager))
    assert "is not a time" in bad["content"]
    # A channel discord.py has not seen (created after the bot connected): the option cannot be converted.
    unseen = fake.snowflake()
    fake.channels[unseen] = {**fake.channels[fake.other_channel_id], "id": str(unseen), "name": "new"}
    odd = await fake.reply(await fake.slash("studybot", {**options, "channel": unseen}, subcommand="setup",
                                            member=manager))
    assert is_ephemeral(odd) and odd["content"].startswith("I could not use that option value")


# ----------------------------------------------------------------- scheduled posts
async def test_daily_post_arrives_and_its_buttons_update_it(fake: FakeDiscord, bot: DiscordPlatform,
                                                            service: StudyService, clock: ManualClock) -> None:
    admin = fake.member("Lead", admin=True)
    await fake.reply(await fake.slash("studybot", {"channel": fake.channel_id, "time": "10:30", "timezone": "UTC"},
                                      subcommand="setup", member=admin))
    scheduler = Scheduler(service, {"discord": bot.publisher})
    clock.advance(timedelta(minutes=30))  # Wednesday 10:30 UTC
    [(job, message)] = await scheduler.run_due()
    assert job.kind == "daily" and message is not None

    posted = [r for r in fake.requests if r.method == "POST"
              and r.path == f"/api/v10/channels/{fake.channel_id}/messages"]
    assert len(posted) == 1 and posted[0].status == 200
    [daily] = fake.posts()
    assert daily["embeds"][0]["title"].startswith("Daily question · ")
    post = post_id_of(daily)
    assert await service.message_ref(post) == daily["id"]

    member = fake.member("Early")
    reply = await fake.reply(await fake.click(daily, f"sb:a:{post}:{await correct_option(service, post)}",
                                              member=member))
    assert reply["content"].startswith("✅ Correct!")
    assert "The full answer is revealed later" in reply["content"]
    await fake.wait_until(lambda: any(footer(e) == "1 person has answered." for e in fake.edits_of(daily["id"])))
    patched = [r for r in fake.requests if r.method == "PATCH"
               and r.path == f"/api/v10/channels/{fake.channel_id}/messages/{daily['id']}"]
    assert patched

    # /daily shows it privately; answering there updates the public post too (found by its message ref).
    shown = await fake.reply(await fake.slash("daily", member=fake.member("Second")))
    assert is_ephemeral(shown) and post_id_of(shown) == post
    second = await fake.click(shown, f"sb:a:{post}:0", member=fake.member("Second"), channel_id=fake.channel_id)
    await fake.reply(second)
    await fake.wait_until(lambda: any(footer(e) == "2 people have answered." for e in fake.edits_of(daily["id"])))


async def test_scheduled_post_retries_discord_5xx(fake: FakeDiscord, bot: DiscordPlatform,
                                                 service: StudyService, caplog: pytest.LogCaptureFixture) -> None:
    channel = await service.channel_settings(await service.channel_id(
        _actor(fake), str(fake.channel_id)))
    path = rf"/channels/{fake.channel_id}/messages"
    fake.fail_next("POST", path, 503, times=2)
    with caplog.at_level(logging.WARNING, logger="adapters.discord.publisher"):
        ref = await bot.publisher.publish(channel, Message(body="Hello", title="Daily question"))
    assert ref is not None and [p["id"] for p in fake.posts()] == [ref]
    assert sum("retry" in r.getMessage() for r in caplog.records) == 2
    # A response lost after Discord posted the message: the retry carries the same nonce, no duplicate.
    fake.fail_next("POST", path, 503, after_effect=True)
    again = await bot.publisher.publish(channel, Message(body="Once", title="Reveal"))
    assert [text_of(p) for p in fake.posts()] == ["Daily question\nHello", "Reveal\nOnce"]
    assert again == fake.posts()[-1]["id"]
    # Every retry failing ends in the error, for the scheduler to log and record.
    fake.fail_next("POST", path, 503, times=4)
    with pytest.raises(discord.DiscordServerError):
        await bot.publisher.publish(channel, Message(body="Never", title="Reveal"))
    fake.errors.clear()


async def test_digest_image_goes_as_an_attachment(fake: FakeDiscord, bot: DiscordPlatform,
                                                 service: StudyService) -> None:
    channel = await service.channel_settings(await service.channel_id(_actor(fake), str(fake.channel_id)))
    message = Message(title="Weekly digest · week of 2026-11-09", kind="Weekly digest",
                      image=Image("digest chart.png", PNG, "Points this week: Ann 30"))
    ref = await bot.publisher.publish(channel, message, to=str(fake.other_channel_id))
    [posted] = fake.posts(fake.other_channel_id)
    assert posted["id"] == ref
    [attachment] = posted["attachments"]
    assert attachment["filename"] == "digest_chart.png" and fake.files[attachment["id"]] == PNG
    assert posted["embeds"][0]["image"]["url"] == "attachment://digest_chart.png"


# ----------------------------------------------------------------- errors and safety
async def test_unexpected_error_is_logged_with_a_reference(fake: FakeDiscord, bot: DiscordPlatform,
                                                          service: StudyService, caplog: pytest.LogCaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object, **kwargs: object) -> Message:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(service, "leaderboard", broken)
    with caplog.at_level(logging.ERROR, logger="adapters.discord.adapter"):
        reply = await fake.reply(await fake.slash("leaderboard"))
    assert is_ephemeral(reply)
    match = re.fullmatch(r"Something went wrong \(ref ([0-9a-f]{8})\)\. .*", reply["content"])
    assert match is not None
    [record] = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert record.exc_info is not None and "database on fire" in str(record.exc_info[1])
    assert "database on fire" not in reply["content"]


async def test_a_slow_answer_is_acknowledged_first(fake: FakeDiscord, bot: DiscordPlatform, service: StudyService,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    bot.defer_after = 0.05
    real = service.leaderboard

    async def slow(*args: Any, **kwargs: Any) -> Message:
        await asyncio.sleep(0.3)
        return await real(*args, **kwargs)

    monkeypatch.setattr(service, "leaderboard", slow)
    interaction = await fake.slash("leaderboard")
    first = await fake.answer(interaction)
    assert first["type"] == 5 and not (first.get("data") or {}).get("flags", 0) & EPHEMERAL
    reply = await fake.reply(interaction)
    assert reply["embeds"][0]["title"] == "Leaderboard · this week" and not is_ephemeral(reply)
    assert interaction.answered_at is not None and interaction.answered_at - interaction.sent_at < 0.3


async def test_names_and_topics_never_ping_or_link(fake: FakeDiscord, bot: DiscordPlatform,
                                                   service: StudyService) -> None:
    card = await quiz_card(fake)
    post = post_id_of(card)
    sneaky = fake.member("@everyone [win](https://evil.example)")
    await fake.reply(await fake.click(card, f"sb:a:{post}:{await correct_option(service, post)}", member=sneaky))
    board = text_of(await fake.reply(await fake.slash("leaderboard")))
    assert "@\u200beveryone" in board and "@everyone" not in board
    assert "](" not in board and "https://" not in board
    topic = await fake.reply(await fake.slash("quiz", {"topic": "<@123> [x](http://evil.example)"}))
    assert "<@" not in topic["content"] and "http://" not in topic["content"] and "](" not in topic["content"]
    # allowed_mentions none on every message: checked for all of them by the fixture (fake.problems()).
    assert all(policy == {"parse": []} for _, policy in fake.mention_policies)


async def test_an_expired_interaction_is_logged_and_its_answer_still_counts(
        fake: FakeDiscord, bot: DiscordPlatform, service: StudyService, caplog: pytest.LogCaptureFixture) -> None:
    card = await quiz_card(fake)
    post = post_id_of(card)
    fake.response_deadline = 0.0  # every response now comes too late: Discord answers 404, code 10062
    with caplog.at_level(logging.WARNING, logger="adapters.discord.adapter"):
        late = await fake.click(card, f"sb:a:{post}:0", member=fake.member("Slowpoke"))
        await fake.wait_until(lambda: any(e.startswith(f"interaction {late.id} answered after") for e in fake.errors))
        await bot.settled()
    assert late.callbacks == []
    assert [r for r in caplog.records if "expired before its reply" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert footer(fake.messages[int(card["id"])]) == "1 person has answered."
    fake.errors.clear()


def _actor(fake: FakeDiscord) -> Actor:
    return Actor("discord", str(fake.guild_id), str(fake.channel_id), "1", "Admin", is_admin=True)


async def test_stop_finishes_interactions_in_flight(fake: FakeDiscord, service: StudyService,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    platform = DiscordPlatform(service, settings_for(fake), **FAST)  # type: ignore[arg-type]
    await platform.start()
    started = asyncio.Event()
    real = service.leaderboard

    async def slow(*args: Any, **kwargs: Any) -> Message:
        started.set()
        await asyncio.sleep(0.2)
        return await real(*args, **kwargs)

    monkeypatch.setattr(service, "leaderboard", slow)
    interaction: Interaction = await fake.slash("leaderboard")
    await asyncio.wait_for(started.wait(), 5)
    await platform.stop()
    assert interaction.reply is not None and interaction.reply["embeds"][0]["title"].startswith("Leaderboard")
    assert fake.problems() == []


async def test_appeals_queue_needs_manage_server(fake: FakeDiscord, bot: DiscordPlatform) -> None:
    refused = await fake.reply(await fake.slash("studybot", subcommand="appeals", member=fake.member("Bob")))
    assert refused["content"] == "Only server admins can use /studybot appeals."
    manager = fake.member("Mia", permissions=(1 << 5) | (1 << 10) | (1 << 11))
    queue = await fake.reply(await fake.slash("studybot", subcommand="appeals", member=manager))
    assert is_ephemeral(queue) and queue["content"] == "No appeals are waiting."


async def test_export_my_misses_comes_as_an_apkg_attachment(fake: FakeDiscord, bot: DiscordPlatform,
                                                            service: StudyService) -> None:
    alice = fake.member("Alice")
    card = await quiz_card(fake)
    post = post_id_of(card)
    wrong = (await correct_option(service, post) + 1) % 4
    await fake.reply(await fake.click(card, f"sb:a:{post}:{wrong}", member=alice))
    stats = await fake.reply(await fake.slash("stats", member=alice))
    assert "sb:k" in custom_ids(stats)
    exported = await fake.reply(await fake.click(stats, "sb:k", member=alice))
    assert is_ephemeral(exported)
    [attachment] = exported["attachments"]
    assert attachment["filename"] == "studybot-misses.apkg"
    assert fake.files[attachment["id"]][:2] == b"PK"  # a zip: the Anki package


# ----------------------------------------------------------------- questions written in chat
QUESTION_FORM = {"question": "Why does @everyone warm up the learning rate?",
                 "answer": "Early updates are unstable while optimizer statistics settle; a warmup keeps them small.",
                 "correct": "To keep early updates small", "wrong": "To use less memory\nTo skip validation",
                 "topic,difficulty": "Our training, hard"}


async def test_a_member_writes_a_question_in_a_modal_and_an_admin_reviews_it(fake: FakeDiscord, bot: DiscordPlatform,
                                                                             service: StudyService) -> None:
    member = fake.member("Writer")
    manager = fake.member("Mia", permissions=(1 << 5) | (1 << 10) | (1 << 11))
    opened = await fake.slash("question", subcommand="add", member=member)
    answer = await fake.answer(opened)
    assert answer["type"] == 9  # a modal, never deferred
    modal = answer["data"]
    assert modal["custom_id"] == "sb:n" and modal["title"] == "Write a question"
    labels = [c for c in modal["components"] if c["type"] == 18]
    assert len(modal["components"]) == len(labels) == 5  # Discord's limit: topic and difficulty share one input
    ids = [c["component"]["custom_id"] for c in labels]
    assert ids == ["question", "answer", "correct", "wrong", "topic,difficulty"]
    inputs = {c["component"]["custom_id"]: c["component"] for c in labels}
    assert inputs["question"]["max_length"] == 300 and inputs["wrong"]["style"] == 2
    assert not inputs["correct"]["required"] and inputs["topic,difficulty"]["style"] == 1

    sent = await fake.reply(await fake.submit_modal(opened, QUESTION_FORM))
    assert is_ephemeral(sent) and "waits for an admin's review" in text_of(sent)
    assert "@\u200beveryone" in text_of(sent)

    refused = await fake.reply(await fake.slash("studybot", subcommand="review", member=member))
    assert refused["content"] == "Only server admins can use /studybot review."
    queue = await fake.reply(await fake.slash("studybot", subcommand="review", member=manager))
    assert is_ephemeral(queue) and "Review · 1 waiting" in text_of(queue)
    assert "Why does @\u200beveryone warm up" in text_of(queue) and "Our training" in text_of(queue)
    approve, edit, reject, skip = custom_ids(queue)
    assert approve.endswith(":1") and reject.endswith(":0") and edit.startswith("sb:e:") and skip.startswith("sb:x:")
    nope = await fake.reply(await fake.click(queue, approve, member=member))
    assert nope["content"] == "Only server admins can use /studybot review."

    # Reject opens a modal for the reason; the author sees it privately with their next command.
    asked = await fake.click(queue, reject, member=manager)
    reason_modal = (await fake.answer(asked))["data"]
    assert reason_modal["custom_id"] == reject and reason_modal["title"] == "Reject the question"
    done = await fake.reply(await fake.submit_modal(asked, {"reason": "Please cite where the warmup helps."}))
    assert is_ephemeral(done) and "Rejected" in text_of(done)
    others = await fake.slash("stats", member=fake.member("Someone"))
    await fake.reply(others)
    stats = await fake.slash("stats", member=member)
    await fake.wait_until(lambda: len(stats.replies) >= 2)
    notice = stats.replies[1]
    assert is_ephemeral(notice) and "Please cite where the warmup helps." in text_of(notice)
    assert all("Please cite" not in text_of(r) for r in others.replies)
    assert await service.db.fetchall("SELECT id FROM community_questions") == []


async def test_an_admins_question_is_published_and_served_only_in_this_server(fake: FakeDiscord,
                                                                              bot: DiscordPlatform,
                                                                              service: StudyService) -> None:
    manager = fake.member("Mia", permissions=(1 << 5) | (1 << 10) | (1 << 11))
    opened = await fake.slash("studybot", subcommand="question add", member=manager)
    assert (await fake.answer(opened))["type"] == 9
    done = await fake.reply(await fake.submit_modal(opened, {**QUESTION_FORM, "topic,difficulty": "Our training"}))
    assert "Published" in text_of(done)
    pool = await fake.reply(await fake.slash("studybot", {"questions": "own"}, subcommand="pool", member=manager))
    assert "own questions only" in pool["content"]
    card = await fake.reply(await fake.slash("quiz", {}))
    assert "warm up the learning rate" in text_of(card) and "medium" in text_of(card)
    other = await service.community_id("discord", "999")
    assert all(q.id in service.bank.questions for q in (await service.bank_for(other)).questions.values())

