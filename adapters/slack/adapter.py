"""The Slack adapter: slack-bolt's AsyncApp in Socket Mode or HTTP mode, turning Slack events into the
core's commands and its effects into Block Kit replies (replies.py), with the member looked up in
people.py. Every listener acknowledges first (Slack wants an answer within 3 s) and does the work after the
ack, tracked so `stop()` can let it finish; card counts are refreshed with coalesced chat.update calls.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient

from adapters.runtime import CardRefresher, InFlight
from adapters.slack import commands
from adapters.slack.events import Where, form_source, form_target, where_action, where_command
from adapters.slack.installations import (
    DatabaseInstallationStore,
    DatabaseStateStore,
    WorkspaceClient,
    oauth_flow,
    using_token,
)
from adapters.slack.people import People
from adapters.slack.publisher import SlackPublisher
from adapters.slack.render import (
    ANSWER_ACTION,
    ANSWER_BLOCK,
    FORM_CALLBACK,
    WORDS_CALLBACK,
    form_state,
    home_view,
    render,
)
from adapters.slack.replies import Replies, api_base, retry_handlers, share_auth_test, slack_mode
from bot import actions
from bot.config import Settings
from bot.dispatch import (
    Command,
    Dispatcher,
    Effect,
    Leaderboard,
    OpenForm,
    OpenPrompt,
    Press,
    Quiz,
    RefreshCard,
    SubmitForm,
    SubmitWords,
    TopicPicker,
)
from bot.errors import ConfigError, new_reference
from bot.messages import Message
from bot.schedule import Publisher
from bot.service import StudyService
from bot.storage.sql.installations import SlackInstallations

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
CONNECT_TIMEOUT = 30.0
CARD_UPDATE_INTERVAL = 1.0  # seconds between two chat.update calls on one card (chat.update is Tier 3)
MAX_CONCURRENT_WORK = 32  # interactions processed at once after their ack; the rest queue


class SlackPlatform:
    name = PLATFORM

    def __init__(self, service: StudyService, settings: Settings, *, host: str = "0.0.0.0") -> None:  # noqa: S104
        self.service = service
        self.settings = settings
        self.host = host
        self.mode = slack_mode(settings)
        # Many workspaces: the OAuth install flow, each request answered with its workspace's stored token.
        self.oauth = settings.slack_oauth
        if self.oauth and self.mode != "http":
            raise ConfigError("Slack's OAuth install flow runs in HTTP mode: unset STUDYBOT_SLACK_MODE or set it "
                              "to http")
        if self.mode == "socket" and not settings.slack_app_token:
            raise ConfigError("Slack Socket Mode needs SLACK_APP_TOKEN (or set STUDYBOT_SLACK_MODE=http)")
        self.client: AsyncWebClient = WorkspaceClient(
            token=None if self.oauth else settings.slack_bot_token, base_url=api_base(settings),
            retry_handlers=retry_handlers(), logger=log)
        self.rows = SlackInstallations(service.db)
        self.installations: DatabaseInstallationStore | None = None
        if self.oauth:
            self.installations = DatabaseInstallationStore(self.rows)
            flow = oauth_flow(settings, self.installations, DatabaseStateStore(self.rows, service.clock),
                              base_url=api_base(settings), retry_handlers=retry_handlers())
            self.app = AsyncApp(client=self.client, signing_secret=settings.slack_signing_secret, name="studybot",
                                process_before_response=False, logger=logging.getLogger("slack_bolt"),
                                oauth_flow=flow)
        else:
            self.app = AsyncApp(client=self.client, signing_secret=settings.slack_signing_secret, name="studybot",
                                process_before_response=False, logger=logging.getLogger("slack_bolt"))
        self.dispatcher = Dispatcher(service)
        self.replies = Replies(self.client, self.dispatcher.remember)
        self.publisher: Publisher = SlackPublisher(self, settings.slack_posts_per_second)
        self.port: int | None = None  # the HTTP port actually bound (settings.slack_port may be 0)
        self.bot_user: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self.people = People(self.client, settings)
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
        self.app.view(FORM_CALLBACK)(self._on_form)
        self.app.event("app_home_opened")(self._on_home)
        self.app.event("app_uninstalled")(self._on_uninstalled)
        self.app.event("tokens_revoked")(self._on_tokens_revoked)
        self.app.error(self._on_error)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self.client.session = self.replies.session = self._session  # one connection pool for every call
        if self.oauth:
            team = await self._adopt_bot_token()
        else:
            try:
                auth = await self.client.auth_test()
            except SlackApiError as exc:
                raise ConfigError(f"Slack rejected SLACK_BOT_TOKEN: {exc.response.get('error')}") from None
            self.bot_user = auth.get("user_id")
            share_auth_test(self.app, auth)
            team = auth.get("team")
        if self.mode == "http":
            web_app = self.app.web_app(path=EVENTS_PATH, port=self.settings.slack_port)
            self._runner = web.AppRunner(web_app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.settings.slack_port, backlog=1024)
            await site.start()
            self.port = int(self._runner.addresses[0][1])
            if self.oauth:
                log.info("slack: HTTP mode for many workspaces, POST %s, install at GET /slack/install, on port %d",
                         EVENTS_PATH, self.port)
            else:
                log.info("slack: HTTP mode, POST %s on port %d (team %s)", EVENTS_PATH, self.port, team)
        else:
            self._socket = AsyncSocketModeHandler(self.app, self.settings.slack_app_token)
            try:
                await asyncio.wait_for(self._socket.connect_async(), CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
            except TimeoutError:
                await self._socket.close_async()  # type: ignore[no-untyped-call]
                raise ConfigError("could not open a Slack Socket Mode connection in "
                                  f"{CONNECT_TIMEOUT:.0f} s; check SLACK_APP_TOKEN") from None
            log.info("slack: Socket Mode connected (team %s)", team)

    async def _adopt_bot_token(self) -> str | None:
        """With the OAuth flow, a SLACK_BOT_TOKEN also set is the workspace it belonged to: stored as that
        workspace's installation unless the workspace installed the app already, so it keeps working."""
        token = self.settings.slack_bot_token
        if not token or self.installations is None:
            return None
        try:
            auth = await self.client.auth_test(token=token)
        except SlackApiError as exc:
            raise ConfigError(f"Slack rejected SLACK_BOT_TOKEN: {exc.response.get('error')}") from None
        team = str(auth.get("team_id") or "")
        if await self.installations.async_find_bot(enterprise_id=None, team_id=team) is None:
            await self.installations.async_save(Installation(
                team_id=team, team_name=auth.get("team"), enterprise_id=auth.get("enterprise_id"), bot_token=token,
                bot_id=auth.get("bot_id"), bot_user_id=auth.get("user_id"), user_id="", bot_scopes=""))
        return team

    async def bot_token(self, team: str) -> str | None:
        """The token to post in workspace `team` when no request carries one (scheduled posts): with the OAuth
        flow the workspace's stored installation (None when it has none), else the one SLACK_BOT_TOKEN."""
        if self.installations is None:
            return self.settings.slack_bot_token
        return await self.installations.bot_token(team)

    async def stop(self) -> None:
        """Stop taking events, let the interactions in flight finish, then close the connections."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.drain(max(1.0, self.settings.shutdown_grace - 1.0))  # serve() allows shutdown_grace in all
        await self.people.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = self.replies.session = None

    async def drain(self, grace: float) -> bool:
        """Wait up to `grace` seconds for the work started by interactions (and the profile lookups they
        started); True when none is left."""
        deadline = time.monotonic() + grace
        while pending := self.inflight.tasks | set(self.people.lookups.values()) | self.cards.tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("slack: %d interactions still running at shutdown", len(pending))
                return False
            await asyncio.wait(pending, timeout=left)
        return True

    # ----------------------------------------------------------------- listeners (ack first)
    async def _on_quiz(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        where = where_command(body)
        await self._run(where, "/quiz", lambda: self._quiz(where, str(body.get("text") or "")), context)

    async def _on_leaderboard(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        where = where_command(body)
        await self._run(where, "/leaderboard", lambda: self._leaderboard(where, str(body.get("text") or "")),
                        context)

    async def _on_studybot(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        where = where_command(body)
        await self._run(where, "/studybot", lambda: self._studybot(where, str(body.get("text") or "")), context)

    async def _on_button(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        actions = body.get("actions") or [{}]
        button_id = str(actions[0].get("action_id") or actions[0].get("value") or "")
        where = where_action(body)
        await self._run(where, button_id, lambda: self._press(where, button_id), context)

    async def _on_words(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                        context: AsyncBoltContext) -> None:
        values = (view.get("state") or {}).get("values") or {}
        text = str(((values.get(ANSWER_BLOCK) or {}).get(ANSWER_ACTION) or {}).get("value") or "")
        if not text.strip():
            await ack(response_action="errors", errors={ANSWER_BLOCK: "Write a sentence or two."})
            return
        await ack()
        user = body.get("user") or {}
        where = Where(team=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
                      user=str(user.get("id") or ""), name=str(user.get("name") or user.get("username") or ""))
        await self._run(where, "answer in words", lambda: self._words(where, str(view.get("private_metadata")), text),
                        context)

    async def _on_form(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                       context: AsyncBoltContext) -> None:
        values = form_state(view)
        await ack()
        user = body.get("user") or {}
        where = Where(team=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
                      user=str(user.get("id") or ""), name=str(user.get("name") or user.get("username") or ""))
        await self._run(where, "form", lambda: self._form(where, str(view.get("private_metadata")), values), context)

    async def _on_home(self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        # Events are acknowledged by Bolt before this runs.
        if event.get("tab") != "home":
            return
        where = Where(team=str(body.get("team_id") or ""), user=str(event.get("user") or ""),
                      channel=event.get("channel"), direct=True)
        await self._run(where, "app home", lambda: self.publish_home(where), context)

    async def _on_uninstalled(self, context: AsyncBoltContext) -> None:
        """The app was removed from a workspace: its tokens go, its channels pause (an admin resumes them with
        /studybot resume once the app is installed again)."""
        if self.installations is None:
            log.warning("slack: the app was uninstalled from workspace %s; SLACK_BOT_TOKEN no longer works there",
                        context.team_id)
            return
        with self.inflight.track():
            await self.installations.async_delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
            await self._pause_workspace(context.team_id, "the app was uninstalled")

    async def _on_tokens_revoked(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        tokens = event.get("tokens") or {}
        if self.installations is None:
            if tokens.get("bot"):
                log.warning("slack: workspace %s revoked the bot token; set a new SLACK_BOT_TOKEN", context.team_id)
            return
        with self.inflight.track():
            for user in tokens.get("oauth") or []:
                await self.installations.async_delete_installation(enterprise_id=context.enterprise_id,
                                                                   team_id=context.team_id, user_id=str(user))
            if tokens.get("bot"):
                await self.installations.async_delete_bot(enterprise_id=context.enterprise_id,
                                                          team_id=context.team_id)
                await self._pause_workspace(context.team_id, "its bot token was revoked")

    async def _pause_workspace(self, team: str | None, why: str) -> None:
        if not team:  # an org-wide (Enterprise Grid) install: its workspaces are not known here
            log.warning("slack: %s for an organization; its workspaces' channels were not paused", why)
            return
        paused = await self.rows.pause_channels(PLATFORM, team)
        self.service.forget_channel_settings()
        log.info("slack: workspace %s: %s; paused its %d channels", team, why, paused)

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        ref = new_reference()
        log.error("slack: unhandled error (ref %s) for a %s request", ref, body.get("type") or body.get("command"),
                  exc_info=error)

    # ----------------------------------------------------------------- the work after the ack
    async def _run(self, where: Where, what: str, work: Callable[[], Awaitable[None]],
                   context: AsyncBoltContext | None = None) -> None:
        # With the OAuth flow every call made for this request (and the tasks it starts: card refreshes,
        # profile lookups) uses the token bolt's authorize found for the request's workspace.
        token = context.bot_token if self.oauth and context is not None else None
        with self.inflight.track(), using_token(token):
            try:
                async with self._work:
                    await work()
            except Exception as exc:  # a mistake in the command's words, or a failed delivery
                await self._safely_tell(where, self.dispatcher.failure(PLATFORM, exc, what, log))

    async def _safely_tell(self, where: Where, message: Message) -> None:
        try:
            await self.replies.send_ephemeral(where, message)
        except Exception:
            log.exception("slack: could not tell %s about an error", where.user)

    async def _dispatch(self, where: Where, command: Command, *, admin_check: bool = False) -> None:
        actor = await self.people.actor(where, admin_check=admin_check)
        await self.deliver(where, await self.dispatcher.run(actor, command, log))

    async def _quiz(self, where: Where, text: str) -> None:
        args = commands.parse_quiz(text)
        alone = args.topic is None and args.difficulty is None
        await self._dispatch(where, TopicPicker() if alone else Quiz(args.topic, args.difficulty))

    async def _leaderboard(self, where: Where, text: str) -> None:
        await self._dispatch(where, Leaderboard(*commands.parse_leaderboard(text)))

    async def _studybot(self, where: Where, text: str) -> None:
        sub, command = await commands.studybot_command(text, self.people.profile)
        await self._dispatch(where, command, admin_check=sub in commands.ADMIN_SUBCOMMANDS)

    async def _press(self, where: Where, button_id: str) -> None:
        if where.channel is None:  # pressed on the Home tab: continue in a DM with the member
            where.channel = await self.replies.open_dm(where.user)
            where.direct = True
        action = actions.decode(button_id)
        # Deciding an appeal or a queued question is an admin act: look the member's rights up, as for
        # /studybot admin commands.
        admin = isinstance(action, actions.DecideAppeal | actions.DecideSubmission | actions.EditSubmission
                           | actions.SkipSubmission)
        await self._dispatch(where, Press(action), admin_check=admin)

    async def _words(self, where: Where, metadata: str, text: str) -> None:
        post_id = form_target(where, metadata)
        await self._dispatch(where, SubmitWords(post_id, text))

    async def _form(self, where: Where, metadata: str, values: dict[str, str]) -> None:
        action = actions.decode(form_source(where, metadata))
        if where.channel is None:  # opened from the Home tab: the reply comes as a DM
            where.channel = await self.replies.open_dm(where.user)
            where.direct = True
        # Whether a question is published at once, and deciding a queued one, depend on admin rights.
        await self._dispatch(where, SubmitForm(action, values), admin_check=True)

    async def publish_home(self, where: Where) -> None:
        actor = await self.people.actor(where)
        stats = await self.service.stats(actor)
        community = await self.service.community_id(PLATFORM, where.team)
        top = await self.service.standings(community, "week", limit=5)
        await self.client.views_publish(user_id=where.user, view=home_view(stats, top))

    # ----------------------------------------------------------------- replies
    async def post_message(self, channel: str, message: Message) -> str:
        return await self.replies.post_message(channel, message)

    async def open_dm(self, user: str) -> str:
        return await self.replies.open_dm(user)

    async def deliver(self, where: Where, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, RefreshCard):
                await self.refresh_card(where, effect.post_id)
            elif isinstance(effect, OpenPrompt):
                await self.replies.open_answer_modal(where, effect.prompt)
            elif isinstance(effect, OpenForm):
                await self.replies.open_form(where, effect.form)
            elif effect.message.ephemeral:
                await self.replies.send_ephemeral(where, effect.message)
                if effect.message.file is not None:  # ephemeral messages carry no files: it comes as a DM
                    await self.replies.send_file(where.user, effect.message.file)
            else:
                await self.replies.send_public(where, effect.message, remember=effect.remember)

    async def refresh_card(self, where: Where, post_id: int) -> None:
        """Show the card's new answer count: in place for an ephemeral card, else through the coalescing
        refresher (a burst of answers costs a few chat.update calls, not one each)."""
        if where.ephemeral:
            if where.response_url:
                card = await self.service.card(post_id)
                await self.replies.respond(where.response_url, card.private(), replace_original=True)
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
            await self.replies.respond(response_url, card, response_type="in_channel", replace_original=True)
        return True


__all__ = ["SlackPlatform", "Where", "slack_mode"]
