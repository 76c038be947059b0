"""The Slack adapter end to end: real slack-bolt and slack-sdk against a local fake Slack, in HTTP mode
(signed requests to POST /slack/events) and in Socket Mode (envelopes over a websocket)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
import yaml

from adapters.slack import commands
from adapters.slack.adapter import SlackPlatform, slack_mode
from bot.clock import ManualClock
from bot.config import Settings
from bot.errors import UserError
from bot.schedule import Scheduler
from bot.service import Actor, StudyService
from tests.conftest import ROOT
from tests.fakes.slack_server import APP_ID, FakeSlack

SECRET = "test-signing-secret-0123456789"
TEAM = "T1"
CHANNEL = "C1"
ADMIN = "UADMIN"


def signature(body: str, ts: str, secret: str = SECRET) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()


def trigger() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}"


@dataclass
class Ack:
    status: int
    body: Any
    seconds: float


def button_ids(blocks: list[dict[str, Any]] | None) -> list[str]:
    return [e["action_id"] for b in blocks or [] if b["type"] == "actions" for e in b["elements"]]


def all_text(args: dict[str, Any]) -> str:
    return json.dumps(args, ensure_ascii=False)


class Slack:
    """Sends what Slack would send, in one mode, and exposes the fake and the platform under test."""

    def __init__(self, mode: str, fake: FakeSlack, platform: SlackPlatform, service: StudyService,
                 session: aiohttp.ClientSession) -> None:
        self.mode = mode
        self.fake = fake
        self.platform = platform
        self.service = service
        self.session = session

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.platform.port}/slack/events"

    async def post(self, body: str, content_type: str, *, ts: str | None = None, secret: str = SECRET) -> Ack:
        ts = ts or str(int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": signature(body, ts, secret)}
        start = time.perf_counter()
        async with self.session.post(self.url, data=body.encode(), headers=headers) as resp:
            text = await resp.text()
            seconds = time.perf_counter() - start
            parsed: Any = json.loads(text) if text.startswith("{") else text
            return Ack(resp.status, parsed, seconds)

    async def _send(self, kind: str, payload: dict[str, Any], body: str, content_type: str) -> Ack:
        if self.mode == "http":
            return await self.post(body, content_type)
        start = time.perf_counter()
        ack = await self.fake.send_envelope(kind, payload)
        return Ack(200, ack.get("payload"), time.perf_counter() - start)

    async def command(self, command: str, text: str = "", *, user: str = "U1", channel: str = CHANNEL) -> Ack:
        form = {"token": "legacy", "team_id": TEAM, "team_domain": "team", "channel_id": channel,
                "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": command,
                "text": text, "api_app_id": APP_ID, "is_enterprise_install": "false",
                "response_url": self.fake.response_url(), "trigger_id": trigger()}
        return await self._send("slash_commands", form, urlencode(form), "application/x-www-form-urlencoded")

    async def interactive(self, payload: dict[str, Any]) -> Ack:
        body = "payload=" + quote(json.dumps(payload))
        return await self._send("interactive", payload, body, "application/x-www-form-urlencoded")

    async def press(self, action_id: str, *, user: str, channel: str = CHANNEL, message_ts: str | None = None,
                    home: bool = False, ephemeral: bool = False) -> Ack:
        payload: dict[str, Any] = {
            "type": "block_actions", "api_app_id": APP_ID, "token": "legacy", "trigger_id": trigger(),
            "team": {"id": TEAM, "domain": "team"}, "enterprise": None, "is_enterprise_install": False,
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "actions": [{"action_id": action_id, "block_id": "b1", "value": action_id, "type": "button",
                         "text": {"type": "plain_text", "text": "x"}, "action_ts": str(time.time())}],
        }
        if home:
            payload["container"] = {"type": "view", "view_id": "VHOME"}
            payload["view"] = {"id": "VHOME", "type": "home", "blocks": []}
        else:
            payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel,
                                    "is_ephemeral": ephemeral}
            payload["channel"] = {"id": channel, "name": "general"}
            payload["message"] = {"type": "message", "ts": message_ts, "text": "card"}
            payload["response_url"] = self.fake.response_url()
        return await self.interactive(payload)

    async def submit(self, view: dict[str, Any], *, user: str, text: str) -> Ack:
        state = {"values": {"answer": {"text": {"type": "plain_text_input", "value": text}}}}
        payload = {"type": "view_submission", "api_app_id": APP_ID, "token": "legacy", "trigger_id": trigger(),
                   "team": {"id": TEAM, "domain": "team"}, "is_enterprise_install": False, "enterprise": None,
                   "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
                   "view": {**view, "id": "VMODAL", "team_id": TEAM, "state": state, "hash": "h", "app_id": APP_ID},
                   "response_urls": []}
        return await self.interactive(payload)

    async def event(self, event: dict[str, Any]) -> Ack:
        body = {"token": "legacy", "team_id": TEAM, "api_app_id": APP_ID, "event": event, "type": "event_callback",
                "event_id": "Ev" + uuid.uuid4().hex[:10], "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}]}
        return await self._send("events_api", body, json.dumps(body), "application/json")

    async def quiz_card(self, text: str = "statistics", *, channel: str = CHANNEL) -> tuple[int, str, list[str]]:
        """/quiz, then the posted card: (post id, message ts, answer button ids in shown order)."""
        before = len(self.fake.to("chat.postMessage"))
        ack = await self.command("/quiz", text, channel=channel)
        assert ack.status == 200
        posted = await self.fake.wait_for(lambda: self.fake.to("chat.postMessage")[before:])
        card = posted[0]
        ids = button_ids(card["blocks"])
        answers = [i for i in ids if i.startswith("sb:a:")]
        post_id = int(answers[0].split(":")[2])
        ts = next(ts for (ch, ts), m in self.fake.messages.items() if ch == channel and m["blocks"] == card["blocks"])
        return post_id, ts, answers

    async def correct_and_wrong(self, post_id: int, answers: list[str]) -> tuple[str, list[str]]:
        view = await self.service.post_view(post_id)
        right = answers[view.order.index(0)]
        return right, [a for a in answers if a != right]

    def ephemerals(self, user: str) -> list[dict[str, Any]]:
        return [a for a in self.fake.to("chat.postEphemeral") if a["user"] == user]


@asynccontextmanager
async def open_slack(mode: str, service: StudyService, tmp_path: Path) -> AsyncIterator[Slack]:
    fake = await FakeSlack().start()
    fake.users[ADMIN] = {"is_admin": True, "profile": {"display_name": "Ada Admin"}}
    fake.users["UOWNER"] = {"is_owner": True}
    settings = Settings(database=tmp_path / "unused.sqlite3", slack_bot_token=fake.token,
                        slack_app_token=fake.app_token if mode == "socket" else "", slack_signing_secret=SECRET,
                        slack_mode=mode, slack_port=0, slack_api_url=fake.api_url, slack_admins=("UROOT",))
    platform = SlackPlatform(service, settings, host="127.0.0.1")
    await platform.start()
    try:
        if mode == "socket":
            await fake.wait_connected()
        async with aiohttp.ClientSession() as session:
            yield Slack(mode, fake, platform, service, session)
    finally:
        await platform.stop()
        await fake.stop()


@pytest.fixture(params=["http", "socket"])
async def slack(request: pytest.FixtureRequest, service: StudyService, tmp_path: Path) -> AsyncIterator[Slack]:
    async with open_slack(request.param, service, tmp_path) as harness:
        yield harness


@pytest.fixture
async def http_slack(service: StudyService, tmp_path: Path) -> AsyncIterator[Slack]:
    async with open_slack("http", service, tmp_path) as harness:
        yield harness


# ----------------------------------------------------------------- both modes
async def test_quiz_posts_a_public_card_after_a_fast_ack(slack: Slack) -> None:
    post_id, ts, answers = await slack.quiz_card("statistics easy")
    assert len(answers) == 4
    card = slack.fake.to("chat.postMessage")[-1]
    assert card["channel"] == CHANNEL
    assert card["blocks"][0]["type"] == "header" and "Practice question" in card["blocks"][0]["text"]["text"]
    assert f"sb:w:{post_id}" in button_ids(card["blocks"]) and f"sb:r:{post_id}" in button_ids(card["blocks"])
    assert card["text"]
    assert await slack.platform.drain(5)  # the reference is stored once chat.postMessage has answered
    assert await slack.service.message_ref(post_id) == f"{CHANNEL}:{ts}"
    assert slack.fake.to("auth.test")  # the platform checked its token at start


async def test_quiz_alone_offers_a_topic_picker_and_a_picked_topic_posts(slack: Slack) -> None:
    ack = await slack.command("/quiz", "")
    assert ack.status == 200
    [picker] = await slack.fake.wait_calls("chat.postEphemeral")
    ids = button_ids(picker["blocks"])
    assert ids == ["sb:q", "sb:t:statistics", "sb:t:training"]
    await slack.press("sb:t:training", user="U1")
    [card] = await slack.fake.wait_calls("chat.postMessage")
    assert "training" in card["blocks"][0]["text"]["text"]


async def test_unknown_topic_gets_closest_topics_as_buttons(slack: Slack) -> None:
    await slack.command("/quiz", "statistcs")
    [reply] = await slack.fake.wait_calls("chat.postEphemeral")
    assert "I don't know the topic" in all_text(reply)
    assert button_ids(reply["blocks"])[0] == "sb:t:statistics"
    assert not slack.fake.to("chat.postMessage")


async def test_several_users_one_correct_and_the_public_count(slack: Slack) -> None:
    post_id, ts, answers = await slack.quiz_card()
    right, wrong = await slack.correct_and_wrong(post_id, answers)
    acks = await asyncio.gather(slack.press(right, user="U1", message_ts=ts),
                                slack.press(wrong[0], user="U2", message_ts=ts),
                                slack.press(wrong[1], user="U3", message_ts=ts))
    assert all(a.status == 200 and a.seconds < 3 for a in acks)
    feedback = await slack.fake.wait_calls("chat.postEphemeral", 3)
    assert sum("Correct!" in all_text(f) for f in feedback) == 1
    assert "Correct!" in all_text(slack.ephemerals("U1")[0])

    def final_count() -> bool:
        return "3 people have answered." in all_text(slack.fake.messages[(CHANNEL, ts)])

    await slack.fake.wait_for(final_count)
    assert all(u["ts"] == ts and u["channel"] == CHANNEL for u in slack.fake.to("chat.update"))
    rows = await slack.service.db.fetchall("SELECT correct FROM attempts WHERE post_id = ?", (post_id,))
    assert sorted(r[0] for r in rows) == [0, 0, 1]


async def test_duplicate_press_is_counted_once(slack: Slack) -> None:
    post_id, ts, answers = await slack.quiz_card()
    await asyncio.gather(slack.press(answers[0], user="U7", message_ts=ts),
                         slack.press(answers[0], user="U7", message_ts=ts))
    feedback = await slack.fake.wait_calls("chat.postEphemeral", 2)
    assert sum("only your first answer counts" in all_text(f) for f in feedback) == 1
    await slack.fake.wait_calls("chat.update")
    await slack.platform.drain(5)
    rows = await slack.service.db.fetchall("SELECT COUNT(*) FROM attempts WHERE post_id = ?", (post_id,))
    assert rows[0][0] == 1
    assert "1 person has answered." in all_text(slack.fake.messages[(CHANNEL, ts)])


async def test_answer_in_words_modal_is_graded_on_submit(slack: Slack) -> None:
    post_id, ts, _ = await slack.quiz_card()
    await slack.press(f"sb:w:{post_id}", user="U4", message_ts=ts)
    [opened] = await slack.fake.wait_calls("views.open")
    view = opened["view"]
    assert opened["trigger_id"] and view["type"] == "modal" and view["callback_id"] == "sb:words"
    assert len(view["title"]["text"]) <= 24

    empty = await slack.submit(view, user="U4", text="   ")
    assert empty.status == 200
    assert empty.body["response_action"] == "errors" and "answer" in empty.body["errors"]

    ack = await slack.submit(view, user="U4", text="It is the probability of data at least as extreme as "
                                                   "observed, assuming the null hypothesis is true.")
    assert ack.status == 200 and ack.seconds < 3
    [feedback] = await slack.fake.wait_calls("chat.postEphemeral", where=lambda a: a["user"] == "U4")
    assert feedback["channel"] == CHANNEL and "Score:" in all_text(feedback)
    await slack.fake.wait_for(lambda: "1 person has answered." in all_text(slack.fake.messages[(CHANNEL, ts)]))


async def test_reveal_more_and_self_rating_answer_privately(slack: Slack) -> None:
    post_id, ts, _ = await slack.quiz_card("training")
    await slack.press(f"sb:r:{post_id}", user="U8", message_ts=ts)
    [reveal] = await slack.fake.wait_calls("chat.postEphemeral")
    ids = button_ids(reveal["blocks"])
    assert reveal["user"] == "U8" and "Correct option" in all_text(reveal)
    assert f"sb:s:{post_id}:good" in ids
    await slack.press(f"sb:m:{post_id}", user="U8", message_ts=ts)
    await slack.press(f"sb:s:{post_id}:good", user="U8", message_ts=ts)
    replies = await slack.fake.wait_calls("chat.postEphemeral", 3)
    assert "More on this question" in all_text(replies)
    await slack.platform.drain(5)
    rows = await slack.service.db.fetchall("SELECT mode, points FROM attempts WHERE post_id = ?", (post_id,))
    assert [tuple(r) for r in rows] == [("self", 0)]
    assert not slack.fake.to("chat.update")  # a self-rating is not an answer on the public card


async def test_a_private_card_is_answered_and_updated_through_the_response_url(slack: Slack) -> None:
    await slack.command("/quiz", "")
    await slack.fake.wait_calls("chat.postEphemeral")
    await slack.press("sb:q", user="U1", ephemeral=True, message_ts="1700000000.000999")  # "My reviews"
    cards = await slack.fake.wait_calls("chat.postEphemeral", 2)
    answers = [i for i in button_ids(cards[-1]["blocks"]) if i.startswith("sb:a:")]
    assert answers and not slack.fake.to("chat.postMessage")  # practice from the picker stays private
    await slack.press(answers[0], user="U1", ephemeral=True, message_ts="1700000000.000999")
    await slack.fake.wait_calls("chat.postEphemeral", 3)
    await slack.fake.wait_for(lambda: slack.fake.responses)
    _, body = slack.fake.responses[-1]
    assert body["replace_original"] is True and "1 person has answered." in all_text(body)
    assert not slack.fake.to("chat.update")


async def test_app_home_publishes_progress_and_practice_now_goes_to_a_dm(slack: Slack) -> None:
    post_id, ts, answers = await slack.quiz_card()
    right, _ = await slack.correct_and_wrong(post_id, answers)
    await slack.press(right, user="U5", message_ts=ts)
    await slack.fake.wait_calls("chat.postEphemeral")
    await slack.platform.drain(5)

    ack = await slack.event({"type": "app_home_opened", "user": "U5", "channel": "DHOME5", "tab": "home",
                             "event_ts": str(time.time())})
    assert ack.status == 200
    [published] = await slack.fake.wait_calls("views.publish")
    assert published["user_id"] == "U5" and published["view"]["type"] == "home"
    text = all_text(published)
    assert "Points" in text and "Streak" in text and "Reviews due" in text and "Team top 5" in text
    assert "u5" in text  # U5 is on the board
    assert "sb:q" in button_ids(published["view"]["blocks"])

    await slack.press("sb:q", user="U5", home=True)
    dm_card = await slack.fake.wait_calls("chat.postMessage", where=lambda a: a["channel"] == "DU5")
    assert any(i.startswith("sb:a:") for i in button_ids(dm_card[0]["blocks"]))
    assert slack.fake.to("conversations.open")[0]["users"] == "U5"


async def test_messages_tab_open_publishes_nothing(slack: Slack) -> None:
    await slack.event({"type": "app_home_opened", "user": "U5", "channel": "D5", "tab": "messages"})
    await slack.platform.drain(5)
    assert not slack.fake.to("views.publish")


async def test_non_admin_setup_is_refused_and_admins_can(slack: Slack) -> None:
    await slack.command("/studybot", "setup 08:30 Europe/Berlin weekdays", user="U2")
    [refusal] = await slack.fake.wait_calls("chat.postEphemeral")
    assert refusal["user"] == "U2" and "Only workspace admins" in all_text(refusal)
    assert slack.fake.to("users.info")[-1]["user"] == "U2"
    channel = await slack.service.channel_settings(
        await slack.service.channel_id(Actor("slack", TEAM, CHANNEL, "U2")))
    assert not channel.enabled

    await slack.command("/studybot", "setup 08:30 Europe/Berlin mon,wed,fri statistics", user=ADMIN)
    status = await slack.fake.wait_calls("chat.postEphemeral", where=lambda a: a["user"] == ADMIN)
    assert "08:30 Europe/Berlin" in all_text(status[0])
    channel = await slack.service.channel_settings(channel.id)
    assert channel.enabled and channel.weekdays == ("mon", "wed", "fri") and channel.topics == ("statistics",)
    assert channel.configured_by == ADMIN

    await slack.command("/studybot", "pause", user="UROOT")  # listed in STUDYBOT_SLACK_ADMINS
    await slack.fake.wait_calls("chat.postEphemeral", where=lambda a: a["user"] == "UROOT")
    assert (await slack.service.channel_settings(channel.id)).paused


async def test_leaderboard_and_studybot_subcommands(slack: Slack) -> None:
    post_id, ts, answers = await slack.quiz_card()
    right, _ = await slack.correct_and_wrong(post_id, answers)
    await slack.press(right, user="U6", message_ts=ts)
    await slack.fake.wait_calls("chat.postEphemeral")
    await slack.command("/leaderboard", "week statistics")
    boards = await slack.fake.wait_calls("chat.postMessage", 2)
    assert "Leaderboard" in all_text(boards[-1]) and "u6" in all_text(boards[-1])
    await slack.command("/studybot", "stats <@U6|u6>", user="U1")
    await slack.command("/studybot", "help", user="U1")
    await slack.command("/studybot", "status", user="U1")
    await slack.command("/studybot", "daily", user="U1")
    await slack.command("/studybot", "frobnicate", user="U1")
    replies = await slack.fake.wait_calls("chat.postEphemeral", 5, where=lambda a: a["user"] == "U1")
    text = all_text(replies)
    assert "Stats for u6" in text and "/leaderboard" in text and "Only workspace admins" in text
    assert "no daily question yet" in text and "There is no /studybot frobnicate" in text


# ----------------------------------------------------------------- HTTP mode only
async def test_forged_signature_and_stale_timestamp_get_401(http_slack: Slack) -> None:
    body = urlencode({"command": "/quiz", "text": "statistics", "team_id": TEAM, "user_id": "U1",
                      "channel_id": CHANNEL, "response_url": http_slack.fake.response_url(), "trigger_id": trigger()})
    forged = await http_slack.post(body, "application/x-www-form-urlencoded", secret="not-the-secret")
    stale = await http_slack.post(body, "application/x-www-form-urlencoded", ts=str(int(time.time()) - 6 * 60))
    assert forged.status == 401 and stale.status == 401
    ok = await http_slack.post(body, "application/x-www-form-urlencoded")
    assert ok.status == 200
    await http_slack.fake.wait_calls("chat.postMessage")
    assert len(http_slack.fake.to("chat.postMessage")) == 1  # only the genuine request did anything


async def test_ack_comes_before_slow_work_and_stop_waits_for_it(http_slack: Slack,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    gate = asyncio.Event()
    real = http_slack.service.leaderboard

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(http_slack.service, "leaderboard", slow)
    ack = await http_slack.command("/leaderboard")
    assert ack.status == 200 and ack.seconds < 3
    assert not http_slack.fake.to("chat.postMessage")
    stopping = asyncio.create_task(http_slack.platform.stop())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(stopping), 0.2)
    gate.set()
    await asyncio.wait_for(stopping, 5)
    assert "Leaderboard" in all_text(http_slack.fake.to("chat.postMessage")[-1])


async def test_unexpected_errors_are_logged_with_a_reference(http_slack: Slack, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(http_slack.service, "leaderboard", broken)
    caplog.set_level(logging.ERROR, logger="adapters.slack.adapter")
    await http_slack.command("/leaderboard")
    [reply] = await http_slack.fake.wait_calls("chat.postEphemeral")
    match = re.search(r"Something went wrong \(ref ([0-9a-f]{8})\)", all_text(reply))
    assert match
    assert any(match.group(1) in r.getMessage() and r.exc_info for r in caplog.records)
    assert "database on fire" not in all_text(reply)


async def test_a_burst_of_answers_costs_a_few_card_updates(http_slack: Slack) -> None:
    _, ts, answers = await http_slack.quiz_card()
    acks = await asyncio.gather(*(http_slack.press(answers[i % 4], user=f"UB{i}", message_ts=ts) for i in range(40)))
    assert all(a.status == 200 and a.seconds < 3 for a in acks)
    fake = http_slack.fake
    await fake.wait_for(lambda: "40 people have answered." in all_text(fake.messages[(CHANNEL, ts)]), seconds=10)
    assert 1 <= len(fake.to("chat.update")) <= 5
    assert len(fake.to("chat.postEphemeral")) == 40


async def test_a_cold_burst_asks_auth_test_once(http_slack: Slack) -> None:
    """slack-bolt's authorization reuses the auth.test the platform made at start-up, instead of one call
    per request of the first burst."""
    _, ts, answers = await http_slack.quiz_card()
    await asyncio.gather(*(http_slack.press(answers[i % 4], user=f"UC{i}", message_ts=ts) for i in range(30)))
    await http_slack.fake.wait_calls("chat.postEphemeral", 30)
    assert len(http_slack.fake.to("auth.test")) == 1


async def test_names_come_from_the_profile_without_delaying_presses(http_slack: Slack) -> None:
    fake = http_slack.fake
    fake.users["U9"] = {"profile": {"display_name": "Nine"}}
    _, ts, answers = await http_slack.quiz_card()
    await http_slack.press(answers[0], user="U9", message_ts=ts)
    await fake.wait_calls("chat.postEphemeral")
    await fake.wait_calls("users.info", where=lambda a: a["user"] == "U9")  # looked up after the answer
    assert await http_slack.platform.drain(5)
    await http_slack.command("/studybot", "stats", user="U9")
    [stats] = await fake.wait_calls("chat.postEphemeral", where=lambda a: "Stats for" in all_text(a))
    assert "Stats for Nine" in all_text(stats)


async def test_rate_limited_calls_are_retried(http_slack: Slack) -> None:
    http_slack.fake.rate_limit["chat.postMessage"] = 1
    await http_slack.command("/quiz", "statistics")
    await http_slack.fake.wait_calls("chat.postMessage")
    assert [c.status for c in http_slack.fake.attempts("chat.postMessage")] == [429, 200]


async def test_nothing_from_users_or_content_becomes_a_mention(http_slack: Slack) -> None:
    fake = http_slack.fake
    fake.users["UEVIL"] = {"profile": {"display_name": "<!channel> @here <@U1>"}}
    await http_slack.command("/studybot", "status", user="UEVIL")  # an admin command: users.info is awaited
    await fake.wait_calls("chat.postEphemeral")
    post_id, ts, answers = await http_slack.quiz_card()
    right, _ = await http_slack.correct_and_wrong(post_id, answers)
    await http_slack.press(right, user="UEVIL", message_ts=ts)
    await fake.wait_calls("chat.postEphemeral", 2)
    await http_slack.command("/quiz", "<!here> <@U2|bob> <#C2|x>")
    await http_slack.command("/leaderboard")
    await fake.wait_calls("chat.postEphemeral", 3)
    board = (await fake.wait_calls("chat.postMessage", 2))[-1]
    assert "!channel" in all_text(board["blocks"])  # the name is shown, defused and escaped
    for call in fake.calls:
        if call.method.startswith("chat."):
            text = all_text(call.args)
            for forbidden in ("<!", "<@", "<#", "@here", "@channel"):
                assert forbidden not in text, (call.method, forbidden)


async def test_ephemeral_falls_back_to_response_url_when_the_bot_is_not_in_the_channel(http_slack: Slack) -> None:
    http_slack.fake.not_in_channel.add("CPRIV")
    await http_slack.command("/quiz", "statistics", channel="CPRIV")
    await http_slack.fake.wait_for(lambda: http_slack.fake.responses)
    _, body = http_slack.fake.responses[0]
    assert body["response_type"] == "in_channel" and any(i.startswith("sb:a:") for i in button_ids(body["blocks"]))


# ----------------------------------------------------------------- scheduled posts
async def test_scheduled_daily_post_goes_through_the_publisher(http_slack: Slack, clock: ManualClock) -> None:
    service, fake = http_slack.service, http_slack.fake
    await http_slack.command("/studybot", "setup 09:00 UTC weekdays", user=ADMIN)
    await fake.wait_calls("chat.postEphemeral")
    scheduler = Scheduler(service, {"slack": http_slack.platform.publisher})
    wake = await scheduler.next_wakeup()
    assert wake is not None
    clock.set(wake)
    results = await scheduler.run_due()
    assert [(job.kind, message is not None) for job, message in results] == [("daily", True)]
    [post] = fake.to("chat.postMessage")
    assert post["channel"] == CHANNEL and "Daily question" in post["blocks"][0]["text"]["text"]
    post_id = int(next(i for i in button_ids(post["blocks"]) if i.startswith("sb:a:")).split(":")[2])
    ref = await service.message_ref(post_id)
    assert ref is not None
    channel, ts = ref.split(":", 1)
    assert (channel, ts) in fake.messages
    # answering the scheduled card updates that message
    await http_slack.press(f"sb:a:{post_id}:0", user="U1", message_ts=ts)
    await fake.wait_for(lambda: "1 person has answered." in all_text(fake.messages[(CHANNEL, ts)]))


async def test_not_in_channel_dms_the_admin_who_set_it_up(http_slack: Slack, clock: ManualClock) -> None:
    service, fake = http_slack.service, http_slack.fake
    fake.not_in_channel.add("CPRIV")
    await http_slack.command("/studybot", "setup 09:00 UTC daily", user=ADMIN, channel="CPRIV")
    await fake.wait_for(lambda: fake.responses)  # the status reply came through the response_url
    scheduler = Scheduler(service, {"slack": http_slack.platform.publisher})
    end = clock.now() + timedelta(days=2)  # two daily posts (and a reveal): one DM, not one per failure
    while (wake := await scheduler.next_wakeup()) is not None and wake <= end:
        clock.set(wake)
        await scheduler.run_due()
    dms = [a for a in fake.to("chat.postMessage") if a["channel"] == f"D{ADMIN}"]
    assert len(dms) == 1
    assert "/invite @studybot" in dms[0]["text"] and "<#CPRIV>" in dms[0]["text"]
    assert fake.to("conversations.open")[0]["users"] == ADMIN
    rows = await service.db.fetchall("SELECT kind, outcome FROM scheduled_runs ORDER BY kind, local_date")
    assert [tuple(r) for r in rows if r[0] == "daily"] == [("daily", "failed"), ("daily", "failed")]


# ----------------------------------------------------------------- the real entry point
async def test_studybot_run_platform_slack_serves_socket_mode_and_stops_on_sigterm(tmp_path: Path) -> None:
    fake = await FakeSlack().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "STUDYBOT_"))}
    env.update({"SLACK_BOT_TOKEN": fake.token, "SLACK_APP_TOKEN": fake.app_token,
                "STUDYBOT_SLACK_API_URL": fake.api_url, "STUDYBOT_DATABASE": str(tmp_path / "run.sqlite3"),
                "STUDYBOT_QUESTIONS": str(ROOT / "tests" / "data" / "bank")})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "adapters.app", "run", "--platform", "slack",
                                                cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE)
    try:
        await fake.wait_connected(seconds=30)
        form = {"team_id": TEAM, "channel_id": CHANNEL, "user_id": "U1", "user_name": "u1", "command": "/quiz",
                "text": "statistics", "response_url": fake.response_url(), "trigger_id": trigger()}
        ack = await fake.send_envelope("slash_commands", form, seconds=10)
        assert set(ack) == {"envelope_id"}
        [card] = await fake.wait_calls("chat.postMessage", seconds=10)
        assert any(i.startswith("sb:a:") for i in button_ids(card["blocks"]))
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fake.stop()
    assert proc.stderr is not None
    log_text = (await proc.stderr.read()).decode()
    assert "Socket Mode connected" in log_text and fake.token not in log_text


# ----------------------------------------------------------------- configuration and install
def test_slash_command_words_in_any_order() -> None:
    assert commands.parse_quiz("ml fundamentals hard") == commands.QuizArgs("ml fundamentals", "hard")
    assert commands.parse_quiz("easy nlp") == commands.QuizArgs("nlp", "easy")
    assert commands.parse_quiz("") == commands.QuizArgs(None, None)
    assert commands.parse_leaderboard("nlp month") == ("month", "nlp")
    assert commands.parse_leaderboard("") == ("week", None)
    assert commands.parse_setup("<#C0123ABCD|ml> Europe/Berlin 08:30 mon,wed,fri nlp, statistics easy,hard reveal=60") == {
        "channel": "C0123ABCD", "timezone": "Europe/Berlin", "time": "08:30", "days": "mon,wed,fri",
        "topics": "nlp, statistics", "difficulties": "easy,hard", "reveal_minutes": 60}
    assert commands.parse_setup("time=07:00 tz=UTC days=weekdays") == {"time": "07:00", "timezone": "UTC",
                                                                        "days": "weekdays"}
    assert commands.parse_digest("friday 16:00 <#C0123ABCD>") == {"day": "friday", "time": "16:00",
                                                                  "channel": "C0123ABCD"}
    assert commands.user_ref("<@U024BE7LH|bob>") == ("U024BE7LH", "bob")
    with pytest.raises(UserError):
        commands.parse_digest("whenever")
    with pytest.raises(UserError):
        commands.parse_setup("reveal=soon")


def test_mode_defaults_to_socket_when_an_app_token_is_set() -> None:
    assert slack_mode(Settings(slack_app_token="xapp-1")) == "socket"
    assert slack_mode(Settings(slack_app_token="xapp-1", slack_mode="http")) == "http"
    assert slack_mode(Settings()) == "http"


def test_manifest_declares_everything_the_adapter_uses() -> None:
    manifest = yaml.safe_load((ROOT / "deploy" / "slack-manifest.yaml").read_text(encoding="utf-8"))
    features, settings = manifest["features"], manifest["settings"]
    assert {c["command"] for c in features["slash_commands"]} == {"/quiz", "/leaderboard", "/studybot"}
    assert features["app_home"]["home_tab_enabled"] is True
    assert settings["socket_mode_enabled"] is True and settings["interactivity"]["is_enabled"] is True
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "users:read", "im:write"} <= scopes


async def test_appeals_queue_for_workspace_admins(slack: Slack) -> None:
    await slack.command("/studybot", "appeals", user="U2")
    [refusal] = await slack.fake.wait_calls("chat.postEphemeral")
    assert "Only workspace admins and owners can use /studybot appeals" in all_text(refusal)
    await slack.command("/studybot", "appeals", user=ADMIN)
    [queue] = await slack.fake.wait_calls("chat.postEphemeral", where=lambda a: a["user"] == ADMIN)
    assert "No appeals are waiting." in all_text(queue)


async def test_digest_chart_is_uploaded_or_left_to_the_text(http_slack: Slack, caplog: pytest.LogCaptureFixture) -> None:
    from bot.messages import Image, Message

    service, fake, publisher = http_slack.service, http_slack.fake, http_slack.platform.publisher
    await http_slack.command("/studybot", "setup 09:00 UTC weekdays", user=ADMIN)
    await fake.wait_calls("chat.postEphemeral")
    channel = await service.channel_settings(await service.channel_id(Actor("slack", TEAM, CHANNEL, ADMIN)))
    png = b"\x89PNG\r\n\x1a\nchart-bytes"
    digest = Message(title="Weekly digest", body="Top 10", image=Image("digest.png", png, "Points: ada 30"))
    await publisher.publish(channel, digest)
    [shared] = fake.shared.values()
    [file_id] = fake.shared
    assert fake.uploads[file_id] == png and shared["channel"] == CHANNEL and shared["title"] == "Points: ada 30"
    assert not fake.to("files.upload")  # the retired method is never used

    fake.errors["files.getUploadURLExternal"] = ["missing_scope"]
    caplog.set_level(logging.WARNING, logger="adapters.slack.adapter")
    await publisher.publish(channel, digest)
    await publisher.publish(channel, digest)
    assert len(fake.shared) == 1 and len(fake.to("files.getUploadURLExternal", ok_only=False)) == 2
    assert sum("files:write" in r.getMessage() for r in caplog.records) == 1
    assert len([m for m in fake.to("chat.postMessage") if "Points: ada 30" in all_text(m)]) == 3  # text each time


async def test_export_my_misses_arrives_as_a_file_in_the_dm(http_slack: Slack) -> None:
    post_id, ts, answers = await http_slack.quiz_card()
    _, wrong = await http_slack.correct_and_wrong(post_id, answers)
    await http_slack.press(wrong[0], user="U7", message_ts=ts)
    await http_slack.fake.wait_calls("chat.postEphemeral")
    await http_slack.press("sb:k", user="U7", ephemeral=True)
    [text] = await http_slack.fake.wait_calls("chat.postEphemeral", where=lambda a: "Anki deck" in all_text(a))
    assert text["user"] == "U7"
    await http_slack.fake.wait_for(lambda: http_slack.fake.shared)
    [(file_id, shared)] = http_slack.fake.shared.items()
    assert shared["channel"] == "DU7" and http_slack.fake.uploads[file_id][:2] == b"PK"


# ----------------------------------------------------------------- questions written in chat
QUESTION_VALUES = {"question": "Why does <!here> warm up the learning rate?",
                   "answer": "Early updates are unstable while optimizer statistics settle; a warmup keeps them small.",
                   "correct": "To keep early updates small", "wrong": "To use less memory\nTo skip validation",
                   "topic": "Our training", "difficulty": ""}


async def submit_form(slack: Slack, view: dict[str, Any], *, user: str, values: dict[str, str]) -> Ack:
    state = {"values": {key: {"v": {"type": "plain_text_input", "value": value or None}}
                        for key, value in values.items()}}
    payload = {"type": "view_submission", "api_app_id": APP_ID, "token": "legacy", "trigger_id": trigger(),
               "team": {"id": TEAM, "domain": "team"}, "is_enterprise_install": False, "enterprise": None,
               "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
               "view": {**view, "id": "VFORM", "team_id": TEAM, "state": state, "hash": "h", "app_id": APP_ID},
               "response_urls": []}
    return await slack.interactive(payload)


async def test_a_member_writes_a_question_in_a_modal_and_an_admin_reviews_it(slack: Slack) -> None:
    await slack.command("/studybot", "question add", user="U2")
    [opened] = await slack.fake.wait_calls("views.open")
    view = opened["view"]
    assert opened["trigger_id"] and view["callback_id"] == "sb:form" and len(view["title"]["text"]) <= 24
    assert json.loads(view["private_metadata"])["f"] == "sb:n"
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["question", "answer", "correct", "wrong", "topic", "difficulty"]
    assert inputs["question"]["element"]["max_length"] == 300 and inputs["wrong"]["element"]["multiline"]
    assert inputs["correct"]["optional"] and not inputs["topic"]["optional"]

    ack = await submit_form(slack, view, user="U2", values=QUESTION_VALUES)
    assert ack.status == 200 and ack.seconds < 3
    [sent] = await slack.fake.wait_calls("chat.postEphemeral", where=lambda a: a["user"] == "U2")
    assert sent["channel"] == CHANNEL and "waits for an admin" in all_text(sent)
    assert "<!here>" not in all_text(sent) and "&lt;\u200b!here&gt;" in all_text(sent)

    await slack.command("/studybot", "review", user="U2")
    await slack.fake.wait_calls("chat.postEphemeral", 2, where=lambda a: a["user"] == "U2")
    assert "Only workspace admins and owners can use /studybot review" in all_text(slack.ephemerals("U2")[-1])
    await slack.command("/studybot", "review", user=ADMIN)
    [queue] = await slack.fake.wait_calls("chat.postEphemeral", where=lambda a: a["user"] == ADMIN)
    assert "Review · 1 waiting" in all_text(queue) and "Our training" in all_text(queue)
    approve, _, reject, _ = button_ids(queue["blocks"])
    await slack.press(approve, user="U2")
    await slack.fake.wait_calls("chat.postEphemeral", 3, where=lambda a: a["user"] == "U2")
    assert "Only workspace admins and owners can use /studybot review" in all_text(slack.ephemerals("U2")[-1])

    await slack.press(reject, user=ADMIN)
    calls = await slack.fake.wait_calls("views.open", 2)
    reason_view = calls[1]["view"]
    assert json.loads(reason_view["private_metadata"])["f"] == reject
    await submit_form(slack, reason_view, user=ADMIN, values={"reason": "Please cite where the warmup helps."})
    await slack.fake.wait_calls("chat.postEphemeral", 2, where=lambda a: a["user"] == ADMIN)
    assert "Rejected" in all_text(slack.ephemerals(ADMIN)[-1])

    await slack.command("/studybot", "stats", user="U2")
    await slack.fake.wait_calls("chat.postEphemeral", 5, where=lambda a: a["user"] == "U2")
    assert "Please cite where the warmup helps." in all_text(slack.ephemerals("U2")[-1])
    assert await slack.service.db.fetchall("SELECT id FROM community_questions") == []


async def test_an_admins_question_is_published_and_the_pool_setting(http_slack: Slack) -> None:
    slack = http_slack
    await slack.command("/studybot", "question add", user=ADMIN)
    [opened] = await slack.fake.wait_calls("views.open")
    await submit_form(slack, opened["view"], user=ADMIN, values=QUESTION_VALUES)
    [done] = await slack.fake.wait_calls("chat.postEphemeral", where=lambda a: a["user"] == ADMIN)
    assert "Published" in all_text(done)
    await slack.command("/studybot", "pool own", user="U2")
    await slack.fake.wait_calls("chat.postEphemeral", where=lambda a: a["user"] == "U2")
    assert "Only workspace admins and owners can use /studybot pool" in all_text(slack.ephemerals("U2")[-1])
    await slack.command("/studybot", "pool everything", user=ADMIN)
    await slack.fake.wait_calls("chat.postEphemeral", 2, where=lambda a: a["user"] == ADMIN)
    assert "Usage: /studybot pool shipped|own|both" in all_text(slack.ephemerals(ADMIN)[-1])
    await slack.command("/studybot", f"pool own <#{CHANNEL}|general>", user=ADMIN)
    await slack.fake.wait_calls("chat.postEphemeral", 3, where=lambda a: a["user"] == ADMIN)
    assert "own questions only" in all_text(slack.ephemerals(ADMIN)[-1])
    await slack.command("/quiz", "Our training", user="U2")
    [card] = await slack.fake.wait_calls("chat.postMessage")
    assert "warm up the learning rate" in all_text(card) and "&lt;\u200b!here&gt;" in all_text(card)
