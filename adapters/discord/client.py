"""discord.py's side of the adapter: the client and command tree, the answer modal, where to connect, and
reading what an interaction carries."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import discord
import yarl
from discord import app_commands

from adapters.discord import commands
from adapters.discord.render import (
    MODAL_DESCRIPTION,
    MODAL_LABEL,
    MODAL_TEXT,
    MODAL_TITLE,
    PLACEHOLDER,
    clip,
    modal_inputs,
    safe_text,
)
from bot import actions
from bot.config import Settings
from bot.dispatch import wording
from bot.errors import ConfigError, new_reference
from bot.messages import Form, ephemeral
from bot.service import Actor, TextPrompt

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordPlatform

log = logging.getLogger("adapters.discord.adapter")

PLATFORM = "discord"
ANSWER_INPUT = "answer"
# Keep-alive connections to the REST API, pooled: a burst of replies reuses them instead of opening (TLS)
# connections by the hundred (discord.py's default is no limit).
HTTP_CONNECTIONS = 100
GUILD_READY_TIMEOUT = 2.0  # discord.py's default wait for the servers' data before on_ready
API_VERSION_PATH = "/api/v10"


def endpoints(settings: Settings) -> tuple[str | None, yarl.URL | None]:
    """The REST base and gateway URL from the settings (None: discord.py's default)."""
    api = settings.discord_api_base.strip().rstrip("/") or None
    gateway = settings.discord_gateway_url.strip() or None
    if api is not None:
        parts = urlsplit(api)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("STUDYBOT_DISCORD_API_BASE must be an http(s) URL")
        if parts.path in ("", "/"):
            api += API_VERSION_PATH
    if settings.discord_guild and not settings.discord_guild.strip().isdigit():
        raise ConfigError("STUDYBOT_DISCORD_GUILD must be a server id (a number)")
    url = None
    if gateway is not None:
        url = yarl.URL(gateway)
        if url.scheme not in ("ws", "wss") or not url.host:
            raise ConfigError("STUDYBOT_DISCORD_GATEWAY_URL must be a ws(s) URL")
    return api, url


class StudyTree(app_commands.CommandTree["StudyClient"]):
    async def on_error(self, interaction: discord.Interaction[StudyClient],
                       error: app_commands.AppCommandError) -> None:
        """Option conversions and checks that failed before a callback ran (callbacks handle their own)."""
        if isinstance(error, app_commands.TransformerError):
            log.info("Discord command %s: option not usable: %s", describe(interaction), error)
            text = "I could not use that option value; pick it from the list Discord offers."
        elif isinstance(error, app_commands.CheckFailure):
            log.info("Discord command %s: check failed: %s", describe(interaction), error)
            text = "You can't use this command here."
        else:
            ref = new_reference()
            log.error("Discord command %s failed (ref %s)", describe(interaction), ref, exc_info=error)
            text = wording(PLATFORM).sorry.format(ref=ref)
        await interaction.client.platform.try_send(interaction, ephemeral(text))


class StudyClient(discord.Client):
    """Default intents only: slash commands and components need no privileged intent."""

    def __init__(self, platform: DiscordPlatform, *, guild_ready_timeout: float, connections: int,
                 **options: Any) -> None:
        super().__init__(intents=discord.Intents.default(), allowed_mentions=discord.AllowedMentions.none(),
                         max_messages=None, chunk_guilds_at_startup=False, guild_ready_timeout=guild_ready_timeout,
                         connector=aiohttp.TCPConnector(limit=connections) if connections else None, **options)
        self.platform = platform
        self.tree = StudyTree(self, allowed_contexts=app_commands.AppCommandContext(guild=True),
                              allowed_installs=app_commands.AppInstallationType(guild=True))
        commands.register(self.tree, platform)

    async def setup_hook(self) -> None:
        await self.platform.sync_commands()

    async def on_ready(self) -> None:
        log.info("Discord: connected as %s to %d server(s)", self.user, len(self.guilds))

    async def on_interaction(self, interaction: discord.Interaction[StudyClient]) -> None:
        await self.platform.route(interaction)


class ShardedStudyClient(StudyClient, discord.AutoShardedClient):
    """The client when STUDYBOT_DISCORD_SHARDS / STUDYBOT_DISCORD_SHARD_COUNT are set: discord.py's
    AutoShardedClient connecting only `shard_ids` of `shard_count`. discord.py 2.7 spaces every IDENTIFY after
    a process's first by 5 s whatever Discord allows; `before_identify_hook` asks the platform's gate instead,
    which follows `max_concurrency` and is shared by every process on the database."""

    def __init__(self, platform: DiscordPlatform, *, guild_ready_timeout: float, connections: int,
                 shard_ids: list[int], shard_count: int) -> None:
        super().__init__(platform, guild_ready_timeout=guild_ready_timeout, connections=connections,
                         shard_ids=shard_ids, shard_count=shard_count)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self.platform.identify_gate.wait(shard_id or 0)

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info("Discord: shard %d of %s ready", shard_id, self.shard_count)


class AnswerModal(discord.ui.Modal):
    """The free-text answer form. Its custom id is the post's `sb:w:<post>`: the submit is routed like a
    button, so it is not kept in discord.py's store either."""

    def __init__(self, prompt: TextPrompt) -> None:
        super().__init__(title=clip("Answer in words", MODAL_TITLE),
                         custom_id=actions.encode(actions.AnswerInWords(prompt.post_id)), timeout=None)
        self.add_item(discord.ui.TextDisplay(f"**{clip(safe_text(prompt.question), 1000)}**"))
        self.add_item(discord.ui.Label(
            text=clip("Your answer", MODAL_LABEL),
            description=clip("Graded against the key points. Only your first answer counts.", MODAL_DESCRIPTION),
            component=discord.ui.TextInput(custom_id=ANSWER_INPUT, style=discord.TextStyle.paragraph,
                                           min_length=1, max_length=MODAL_TEXT, required=True,
                                           placeholder=clip("A few sentences in your own words", PLACEHOLDER))))

    def is_finished(self) -> bool:
        return True


class FormModal(discord.ui.Modal):
    """A core form as a modal (at most 5 inputs: see render.modal_inputs). Its custom id is the form's
    action: the submit is routed like a button, and nothing is kept in discord.py's store."""

    def __init__(self, form: Form) -> None:
        super().__init__(title=clip(form.title, MODAL_TITLE), custom_id=form.id, timeout=None)
        for field in modal_inputs(form):
            style = discord.TextStyle.paragraph if field.paragraph else discord.TextStyle.short
            self.add_item(discord.ui.Label(
                text=field.label, description=field.description or None,
                component=discord.ui.TextInput(custom_id=field.custom_id, style=style, required=field.required,
                                               max_length=field.max_length, default=field.value or None,
                                               placeholder=field.placeholder or None)))

    def is_finished(self) -> bool:
        return True


def inputs_of(components: Any) -> dict[str, str]:
    """Every text input's value in a submitted modal, by custom id."""
    found: dict[str, str] = {}
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict):
            continue
        if isinstance(component.get("custom_id"), str) and "value" in component:
            found[component["custom_id"]] = str(component["value"] or "")
        nested = component.get("components") or ([component["component"]] if "component" in component else [])
        found.update(inputs_of(nested))
    return found


def submitted(components: Any, custom_id: str) -> str | None:
    """The value of the modal input `custom_id` (inside action rows or labels)."""
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict):
            continue
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component["value"])
        nested = component.get("components") or ([component["component"]] if "component" in component else [])
        found = submitted(nested, custom_id)
        if found is not None:
            return found
    return None


def shows_post(message: discord.Message, post_id: int) -> bool:
    """The message is the card of `post_id`: one of its buttons answers that post."""
    for row in message.components:
        for child in getattr(row, "children", ()):
            action = actions.decode(getattr(child, "custom_id", None))
            if isinstance(action, actions.AnswerChoice | actions.AnswerInWords) and action.post_id == post_id:
                return True
    return False


def describe(interaction: discord.Interaction[Any]) -> str:
    data: Any = interaction.data or {}
    what = data.get("custom_id") or data.get("name") or "?"
    where = f"{interaction.guild_id}/{interaction.channel_id}"
    return f"{interaction.type.name} {what!r} by {interaction.user.id} in {where}"


def actor_of(interaction: discord.Interaction[Any]) -> Actor:
    """The member as the core sees them: the server is the community; Manage Server makes an admin."""
    user = interaction.user
    guild_id = interaction.guild_id
    perms = interaction.permissions
    guild = interaction.guild
    channel = interaction.channel
    return Actor(
        platform=PLATFORM,
        community=str(guild_id) if guild_id else f"dm-{user.id}",
        channel=str(interaction.channel_id or f"dm-{user.id}"),
        user=str(user.id),
        name=user.display_name,
        is_admin=bool(guild_id) and (perms.manage_guild or perms.administrator),
        community_name=(guild.name if guild is not None else "") or "",
        channel_name=getattr(channel, "name", None) or "",
    )
