"""The Slack adapter: slack-bolt's AsyncApp in Socket Mode or HTTP mode, turning Slack events into
StudyService calls and rendering the replies with Block Kit.

Every listener acknowledges first (Slack wants an answer within 3 seconds) and does the work after the
ack, in a task the platform tracks so `stop()` can let it finish. Public replies go through
chat.postMessage, private ones through chat.postEphemeral; when the bot cannot post in a conversation, the
request's response_url is the fallback. The public count on a question card is refreshed with chat.update,
coalesced per message so a burst of answers costs a handful of calls, not one per answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.runtime import CardRefresher, InFlight
from adapters.slack import commands
from adapters.slack.render import (
    ANSWER_ACTION,
    ANSWER_BLOCK,
    WORDS_CALLBACK,
    answer_modal,
    escape,
    home_view,
    render,
)
from bot import actions
from bot.config import Settings
from bot.dispatch import (
    Command,
    Daily,
    Digest,
    Dispatcher,
    Effect,
    Help,
    Leaderboard,
    OpenPrompt,
    Pause,
    Press,
    Quiz,
    RefreshCard,
    Setup,
    Stats,
    Status,
    SubmitWords,
    TopicPicker,
)
from bot.errors import ConfigError, UserError, new_reference
from bot.messages import Message
from bot.schedule import Publisher
from bot.service import Actor, ChannelSettings, StudyService, TextPrompt

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
USER_TTL = 600.0  # seconds a users.info answer (name, admin) is trusted
USER_RETRY = 60.0  # seconds before asking users.info again about a member it failed for
NOTIFY_EVERY = 12 * 3600.0  # at most one "invite me" DM per channel in this many seconds
CONNECT_TIMEOUT = 30.0
CARD_UPDATE_INTERVAL = 1.0  # seconds between two chat.update calls on one card (chat.update is Tier 3)
MAX_CONCURRENT_WORK = 32  # interactions processed at once after their ack; the rest queue
ADMIN_SUBCOMMANDS = frozenset({"setup", "digest", "pause", "resume", "status"})
NOT_IN_CHANNEL = frozenset({"not_in_channel", "channel_not_found"})
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")

def retry_handlers() -> list[AsyncRetryHandler]:
    """Connection resets once, rate limits (HTTP 429, honouring Retry-After) up to three times."""
    return [AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=3)]


def api_base(settings: Settings) -> str:
    base = settings.slack_api_url or AsyncWebClient.BASE_URL
    return base if base.endswith("/") else base + "/"


def slack_mode(settings: Settings) -> str:
    mode = (settings.slack_mode or "").strip().lower()
    if mode in ("http", "socket"):
        return mode
    if mode:
        raise ConfigError("STUDYBOT_SLACK_MODE is socket or http")
    return "socket" if settings.slack_app_token else "http"


@dataclass(slots=True)
class Where:
    """Where an interaction happened, and what Slack gave us to answer it."""

    team: str
    user: str
    name: str = ""
    channel: str | None = None  # None: no conversation (the Home tab); replies go to a DM
    channel_name: str = ""
    team_name: str = ""
    response_url: str | None = None
    trigger_id: str | None = None
    message_ts: str | None = None  # the message whose button was pressed
    ephemeral: bool = False  # that message is ephemeral (chat.update cannot edit it)
    direct: bool = False  # answer with ordinary DM messages (pressed on the Home tab)


class ChannelUnavailable(Exception):
    """A scheduled post could not be delivered because the bot is not in the channel."""


class SlackPublisher:
    """Posts the scheduler's messages; tells the configuring admin when the bot is not in the channel."""

    supports_images = False

    def __init__(self, platform: SlackPlatform) -> None:
        self.platform = platform

    async def publish(self, channel: ChannelSettings, message: Message, *, to: str | None = None) -> str | None:
        target = to or channel.external_id
        try:
            ts = await self.platform.post_message(target, message)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error not in NOT_IN_CHANNEL:
                raise
            told = await self.platform.notify_not_in_channel(channel, target)
            raise ChannelUnavailable(
                f"cannot post in Slack channel {target} ({error}); "
                + (f"asked {channel.configured_by} to invite the bot" if told else "nobody to tell")) from None
        return f"{target}:{ts}"


class SlackPlatform:
    name = PLATFORM

    def __init__(self, service: StudyService, settings: Settings, *, host: str = "0.0.0.0") -> None:  # noqa: S104
        self.service = service
        self.settings = settings
        self.host = host
        self.mode = slack_mode(settings)
        if self.mode == "socket" and not settings.slack_app_token:
            raise ConfigError("Slack Socket Mode needs SLACK_APP_TOKEN (or set STUDYBOT_SLACK_MODE=http)")
        self.client = AsyncWebClient(token=settings.slack_bot_token, base_url=api_base(settings),
                                     retry_handlers=retry_handlers(), logger=log)
        self.app = AsyncApp(client=self.client, signing_secret=settings.slack_signing_secret, name="studybot",
                            process_before_response=False, logger=logging.getLogger("slack_bolt"))
        self.dispatcher = Dispatcher(service)
        self.publisher: Publisher = SlackPublisher(self)
        self.port: int | None = None  # the HTTP port actually bound (settings.slack_port may be 0)
        self.bot_user: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._users: dict[str, tuple[float, str, bool]] = {}
        self._dms: dict[str, str] = {}
        self._lookups: dict[str, asyncio.Task[None]] = {}
        self._lookup_slots = asyncio.Semaphore(4)
        self._notified: dict[str, float] = {}
        # chat.update is Tier 3: refreshes of one card coalesce, at most one per CARD_UPDATE_INTERVAL.
        self.cards: CardRefresher[tuple[str, str], tuple[int, str | None]] = CardRefresher(
            self._update_card, interval=CARD_UPDATE_INTERVAL, name="Slack card")
        self.inflight = InFlight()
        self._work = asyncio.Semaphore(MAX_CONCURRENT_WORK)
        self._register()

    # ----------------------------------------------------------------- lifecycle
    def _register(self) -> None:
        self.app.command("/quiz")(self._on_quiz)
        self.app.command("/leaderboard")(self._on_leaderboard)
        self.app.command("/studybot")(self._on_studybot)
        self.app.action(re.compile("^" + re.escape(actions.PREFIX)))(self._on_button)
        self.app.view(WORDS_CALLBACK)(self._on_words)
        self.app.event("app_home_opened")(self._on_home)
        self.app.error(self._on_error)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self.client.session = self._session  # one connection pool for every Web API call
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            raise ConfigError(f"Slack rejected SLACK_BOT_TOKEN: {exc.response.get('error')}") from None
        self.bot_user = auth.get("user_id")
        if self.mode == "http":
            web_app = self.app.web_app(path=EVENTS_PATH, port=self.settings.slack_port)
            self._runner = web.AppRunner(web_app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.settings.slack_port, backlog=1024)
            await site.start()
            self.port = int(self._runner.addresses[0][1])
            log.info("slack: HTTP mode, POST %s on port %d (team %s)", EVENTS_PATH, self.port, auth.get("team"))
        else:
            self._socket = AsyncSocketModeHandler(self.app, self.settings.slack_app_token)
            try:
                await asyncio.wait_for(self._socket.connect_async(), CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
            except TimeoutError:
                await self._socket.close_async()  # type: ignore[no-untyped-call]
                raise ConfigError("could not open a Slack Socket Mode connection in "
                                  f"{CONNECT_TIMEOUT:.0f} s; check SLACK_APP_TOKEN") from None
            log.info("slack: Socket Mode connected (team %s)", auth.get("team"))

    async def stop(self) -> None:
        """Stop taking events, let the interactions in flight finish, then close the connections."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.drain(max(1.0, self.settings.shutdown_grace - 1.0))  # serve() allows shutdown_grace in all
        for task in list(self._lookups.values()):
            task.cancel()
        await asyncio.gather(*self._lookups.values(), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = None

    async def drain(self, grace: float) -> bool:
        """Wait up to `grace` seconds for the work started by interactions (and the profile lookups they
        started); True when none is left."""
        deadline = time.monotonic() + grace
        while pending := self.inflight.tasks | set(self._lookups.values()) | self.cards.tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("slack: %d interactions still running at shutdown", len(pending))
                return False
            await asyncio.wait(pending, timeout=left)
        return True

    # ----------------------------------------------------------------- listeners (ack first)
    async def _on_quiz(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        where = self._where_command(body)
        await self._run(where, "/quiz", lambda: self._quiz(where, str(body.get("text") or "")))

    async def _on_leaderboard(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        where = self._where_command(body)
        await self._run(where, "/leaderboard", lambda: self._leaderboard(where, str(body.get("text") or "")))

    async def _on_studybot(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        where = self._where_command(body)
        await self._run(where, "/studybot", lambda: self._studybot(where, str(body.get("text") or "")))

    async def _on_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        actions = body.get("actions") or [{}]
        button_id = str(actions[0].get("action_id") or actions[0].get("value") or "")
        where = self._where_action(body)
        await self._run(where, button_id, lambda: self._press(where, button_id))

    async def _on_words(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = (view.get("state") or {}).get("values") or {}
        text = str(((values.get(ANSWER_BLOCK) or {}).get(ANSWER_ACTION) or {}).get("value") or "")
        if not text.strip():
            await ack(response_action="errors", errors={ANSWER_BLOCK: "Write a sentence or two."})
            return
        await ack()
        user = body.get("user") or {}
        where = Where(team=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
                      user=str(user.get("id") or ""), name=str(user.get("name") or user.get("username") or ""))
        await self._run(where, "answer in words", lambda: self._words(where, str(view.get("private_metadata")), text))

    async def _on_home(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        # Events are acknowledged by Bolt before this runs.
        if event.get("tab") != "home":
            return
        where = Where(team=str(body.get("team_id") or ""), user=str(event.get("user") or ""),
                      channel=event.get("channel"), direct=True)
        await self._run(where, "app home", lambda: self.publish_home(where))

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        ref = new_reference()
        log.error("slack: unhandled error (ref %s) for a %s request", ref, body.get("type") or body.get("command"),
                  exc_info=error)

    # ----------------------------------------------------------------- the work after the ack
    async def _run(self, where: Where, what: str, work: Callable[[], Awaitable[None]]) -> None:
        with self.inflight.track():
            try:
                async with self._work:
                    await work()
            except Exception as exc:  # a mistake in the command's words, or a failed delivery
                await self._safely_tell(where, self.dispatcher.failure(PLATFORM, exc, what, log))

    async def _safely_tell(self, where: Where, message: Message) -> None:
        try:
            await self.send_ephemeral(where, message)
        except Exception:
            log.exception("slack: could not tell %s about an error", where.user)

    async def _dispatch(self, where: Where, command: Command, *, admin_check: bool = False) -> None:
        actor = await self.actor(where, admin_check=admin_check)
        await self.deliver(where, await self.dispatcher.run(actor, command, log))

    async def _quiz(self, where: Where, text: str) -> None:
        args = commands.parse_quiz(text)
        alone = args.topic is None and args.difficulty is None
        await self._dispatch(where, TopicPicker() if alone else Quiz(args.topic, args.difficulty))

    async def _leaderboard(self, where: Where, text: str) -> None:
        await self._dispatch(where, Leaderboard(*commands.parse_leaderboard(text)))

    async def _studybot(self, where: Where, text: str) -> None:
        sub, rest = commands.split_subcommand(text)
        command: Command
        if sub == "setup":
            command = Setup(**commands.parse_setup(rest))
        elif sub == "digest":
            command = Digest(**commands.parse_digest(rest))
        elif sub in ("pause", "resume"):
            command = Pause(sub == "pause", commands.parse_channel_only(rest, f"Usage: /studybot {sub} [#channel]"))
        elif sub == "status":
            command = Status(commands.parse_channel_only(rest, "Usage: /studybot status [#channel]"))
        elif sub == "stats":
            target = commands.user_ref(rest) if rest.strip() else None
            if rest.strip() and target is None:
                raise UserError("Usage: /studybot stats [@member]")
            name = None if target is None else target[1] or (await self.profile(target[0], target[0]))[0]
            command = Stats(None if target is None else target[0], name)
        elif sub == "daily":
            command = Daily()
        else:
            command = Help("" if sub == "help" else f"There is no /studybot {sub}. ")
        await self._dispatch(where, command, admin_check=sub in ADMIN_SUBCOMMANDS)

    async def _press(self, where: Where, button_id: str) -> None:
        if where.channel is None:  # pressed on the Home tab: continue in a DM with the member
            where.channel = await self.open_dm(where.user)
            where.direct = True
        await self._dispatch(where, Press(actions.decode(button_id)))

    async def _words(self, where: Where, metadata: str, text: str) -> None:
        try:
            meta = json.loads(metadata)
            post_id = int(meta["p"])
        except (ValueError, KeyError, TypeError):
            raise UserError("That answer form has expired; press “Answer in words” again.") from None
        where.channel = meta.get("c") or None
        where.message_ts = meta.get("t") or None
        where.response_url = meta.get("u") or None
        where.ephemeral = bool(meta.get("e"))
        where.direct = bool(meta.get("d"))
        where.channel_name = str(meta.get("n") or "")
        await self._dispatch(where, SubmitWords(post_id, text))

    async def publish_home(self, where: Where) -> None:
        actor = await self.actor(where)
        stats = await self.service.stats(actor)
        community = await self.service.community_id(PLATFORM, where.team)
        top = await self.service.standings(community, "week", limit=5)
        await self.client.views_publish(user_id=where.user, view=home_view(stats, top))

    # ----------------------------------------------------------------- replies
    async def deliver(self, where: Where, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, RefreshCard):
                await self.refresh_card(where, effect.post_id)
            elif isinstance(effect, OpenPrompt):
                await self.open_answer_modal(where, effect.prompt)
            elif effect.message.ephemeral:
                await self.send_ephemeral(where, effect.message)
            else:
                await self.send_public(where, effect.message)

    async def post_message(self, channel: str, message: Message) -> str:
        response = await self.client.chat_postMessage(channel=channel, unfurl_links=False, unfurl_media=False,
                                                      **render(message))
        return str(response["ts"])

    async def send_public(self, where: Where, message: Message) -> None:
        if where.channel is None:
            where.channel = await self.open_dm(where.user)
        try:
            ts = await self.post_message(where.channel, message)
        except SlackApiError as exc:
            if exc.response.get("error") not in NOT_IN_CHANNEL:
                raise
            if where.response_url:  # a slash command's response_url can post where the bot is not a member
                await self.respond(where.response_url, message, response_type="in_channel")
                return
            raise UserError("I'm not a member of this channel. Add me with /invite @studybot and try again.") from None
        if message.post_id is not None:
            await self.dispatcher.remember(message.post_id, f"{where.channel}:{ts}")

    async def send_ephemeral(self, where: Where, message: Message) -> None:
        if where.direct or where.channel is None:
            channel = where.channel or await self.open_dm(where.user)
            await self.post_message(channel, message)
            return
        try:
            await self.client.chat_postEphemeral(channel=where.channel, user=where.user, **render(message))
        except SlackApiError:
            if not where.response_url:
                raise
            await self.respond(where.response_url, message, response_type="ephemeral")

    async def respond(self, url: str, message: Message, *, response_type: str | None = None,
                      replace_original: bool = False) -> None:
        client = AsyncWebhookClient(url, session=self._session, retry_handlers=retry_handlers(), logger=log)
        payload = render(message)
        response = await client.send(text=payload["text"], blocks=payload["blocks"], response_type=response_type,
                                     replace_original=replace_original, unfurl_links=False, unfurl_media=False)
        if response.status_code != 200:
            raise RuntimeError(f"response_url answered {response.status_code}: {response.body[:200]}")

    async def open_answer_modal(self, where: Where, prompt: TextPrompt) -> None:
        if not where.trigger_id:
            raise UserError("Press “Answer in words” on the question to write an answer.")
        meta = {"p": prompt.post_id, "c": where.channel, "t": where.message_ts, "u": where.response_url,
                "e": int(where.ephemeral), "d": int(where.direct), "n": where.channel_name}
        await self.client.views_open(trigger_id=where.trigger_id, view=answer_modal(prompt.question, meta))

    async def refresh_card(self, where: Where, post_id: int) -> None:
        """Show the card's new answer count: in place for an ephemeral card, else through the coalescing
        refresher (a burst of answers costs a few chat.update calls, not one each)."""
        if where.ephemeral:
            if where.response_url:
                card = await self.service.card(post_id)
                await self.respond(where.response_url, card.private(), replace_original=True)
            return
        channel, ts = where.channel, where.message_ts
        if not ts:
            ref = await self.service.message_ref(post_id)
            if ref and ":" in ref:
                channel, ts = ref.split(":", 1)
        if channel and ts:
            self.cards.submit((channel, ts), (post_id, where.response_url))

    async def _update_card(self, key: tuple[str, str], item: tuple[int, str | None]) -> bool:
        (channel, ts), (post_id, response_url) = key, item
        card = await self.service.card(post_id)
        try:
            await self.client.chat_update(channel=channel, ts=ts, **render(card))
        except SlackApiError as exc:
            if not response_url:
                raise
            log.info("slack: chat.update failed (%s); using response_url", exc.response.get("error"))
            await self.respond(response_url, card, response_type="in_channel", replace_original=True)
        return True

    async def open_dm(self, user: str) -> str:
        if user not in self._dms:
            response = await self.client.conversations_open(users=user)
            self._dms[user] = str(response["channel"]["id"])
        return self._dms[user]

    async def notify_not_in_channel(self, channel: ChannelSettings, target: str) -> bool:
        """DM the admin who set the channel up how to let the bot in; at most once per NOTIFY_EVERY."""
        admin = channel.configured_by
        if not admin:
            log.warning("slack: not in channel %s and nobody configured it", target)
            return False
        now = time.monotonic()
        last = self._notified.get(target)
        if last is not None and now - last < NOTIFY_EVERY:
            return True
        self._notified[target] = now
        place = f"<#{target}>" if _CHANNEL_ID.match(target) else f"channel {escape(target)}"
        text = (f"I couldn't post today's studybot message in {place}: I'm not a member of that channel.\n"
                f"Open {place} and type `/invite @studybot`, and the next post will go through. "
                "To stop the posts instead, run `/studybot pause` there.")
        try:
            dm = await self.open_dm(admin)
            await self.client.chat_postMessage(
                channel=dm, text=text, unfurl_links=False, unfurl_media=False,
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
        except SlackApiError as exc:
            log.warning("slack: could not DM %s about channel %s: %s", admin, target, exc.response.get("error"))
            return False
        return True

    # ----------------------------------------------------------------- who
    async def profile(self, user: str, fallback: str) -> tuple[str, bool]:
        """(display name, workspace admin or owner or listed in STUDYBOT_SLACK_ADMINS), cached."""
        now = time.monotonic()
        hit = self._users.get(user)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        listed = user in self.settings.slack_admins
        try:
            response = await self.client.users_info(user=user)
        except SlackApiError as exc:
            log.warning("slack: users.info %s failed: %s", user, exc.response.get("error"))
            self._users[user] = (now + USER_RETRY, fallback or user, listed)  # do not ask again at once
            return fallback or user, listed
        info = response.get("user") or {}
        profile = info.get("profile") or {}
        name = str(profile.get("display_name") or profile.get("real_name") or info.get("real_name")
                   or info.get("name") or fallback or user)
        admin = listed or bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        self._users[user] = (now + USER_TTL, name, admin)
        return name, admin

    async def actor(self, where: Where, *, admin_check: bool = False) -> Actor:
        """The member as the core sees them. users.info is awaited only when admin rights matter or the
        payload carries no name; otherwise a cache miss uses the payload's name and looks the profile up in
        the background, so a burst of first-time members never waits on (or is rate limited by) users.info."""
        cached = self._users.get(where.user)
        if cached is not None and cached[0] > time.monotonic():
            name, admin = cached[1], cached[2]
        elif admin_check or not where.name:
            name, admin = await self.profile(where.user, where.name)
        else:
            name, admin = where.name, where.user in self.settings.slack_admins
            self._lookup_later(where.user, where.name)
        return Actor(PLATFORM, where.team, where.channel or "", where.user, name, admin,
                     community_name=where.team_name, channel_name=where.channel_name)

    def _lookup_later(self, user: str, fallback: str) -> None:
        if user in self._lookups:
            return

        async def lookup() -> None:
            try:
                async with self._lookup_slots:
                    await self.profile(user, fallback)
            except Exception:
                log.exception("slack: looking up %s failed", user)
            finally:
                self._lookups.pop(user, None)

        self._lookups[user] = asyncio.create_task(lookup())

    @staticmethod
    def _where_command(body: dict[str, Any]) -> Where:
        return Where(team=str(body.get("team_id") or ""), user=str(body.get("user_id") or ""),
                     name=str(body.get("user_name") or ""), channel=body.get("channel_id") or None,
                     channel_name=str(body.get("channel_name") or ""), team_name=str(body.get("team_domain") or ""),
                     response_url=body.get("response_url") or None, trigger_id=body.get("trigger_id") or None)

    @staticmethod
    def _where_action(body: dict[str, Any]) -> Where:
        user = body.get("user") or {}
        team = body.get("team") or {}
        container = body.get("container") or {}
        channel = body.get("channel") or {}
        in_view = container.get("type") == "view"
        return Where(
            team=str(team.get("id") or user.get("team_id") or ""), user=str(user.get("id") or ""),
            name=str(user.get("name") or user.get("username") or ""),
            channel=None if in_view else (channel.get("id") or container.get("channel_id") or None),
            channel_name=str(channel.get("name") or ""), team_name=str(team.get("domain") or ""),
            response_url=body.get("response_url") or None, trigger_id=body.get("trigger_id") or None,
            message_ts=container.get("message_ts") or (body.get("message") or {}).get("ts") or None,
            ephemeral=bool(container.get("is_ephemeral")), direct=in_view,
        )
