"""What a Slack payload says about where an interaction happened and how to answer it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.errors import UserError


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


def where_command(body: dict[str, Any]) -> Where:
    return Where(team=str(body.get("team_id") or ""), user=str(body.get("user_id") or ""),
                 name=str(body.get("user_name") or ""), channel=body.get("channel_id") or None,
                 channel_name=str(body.get("channel_name") or ""), team_name=str(body.get("team_domain") or ""),
                 response_url=body.get("response_url") or None, trigger_id=body.get("trigger_id") or None)


def where_action(body: dict[str, Any]) -> Where:
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


def _opened_from(where: Where, metadata: str, key: str, expired: str) -> tuple[dict[str, Any], str]:
    """A submitted form's metadata and its `key`; `where` learns the place the form was opened from."""
    try:
        meta = json.loads(metadata)
        value = str(meta[key])
    except (ValueError, KeyError, TypeError):
        raise UserError(expired) from None
    where.channel = meta.get("c") or None
    where.response_url = meta.get("u") or None
    where.direct = bool(meta.get("d"))
    where.channel_name = str(meta.get("n") or "")
    return meta, value


def form_target(where: Where, metadata: str) -> int:
    """The post an answer form belongs to, and (into `where`) where its question card is."""
    expired = "That answer form has expired; press “Answer in words” again."
    meta, post = _opened_from(where, metadata, "p", expired)
    if not post.isdigit():
        raise UserError(expired)
    where.message_ts = meta.get("t") or None
    where.ephemeral = bool(meta.get("e"))
    return int(post)


def form_metadata(where: Where, post_id: int) -> dict[str, Any]:
    """What an answer form carries so its submission finds the card again (form_target reads it)."""
    return {"p": post_id, "c": where.channel, "t": where.message_ts, "u": where.response_url,
            "e": int(where.ephemeral), "d": int(where.direct), "n": where.channel_name}


def form_source(where: Where, metadata: str) -> str:
    """The id of a submitted form (see render.form_modal), and (into `where`) where it was opened from."""
    return _opened_from(where, metadata, "f", "That form has expired; open it again.")[1]


def form_origin(where: Where) -> dict[str, Any]:
    """What a form carries so that its submission's reply goes where it was opened (form_source reads it)."""
    return {"c": where.channel, "u": where.response_url, "d": int(where.direct), "n": where.channel_name}
