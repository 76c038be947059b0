"""Turn the core's neutral `Message` into what Discord takes: content or an embed, button rows, a file.

Everything stays within Discord's documented limits (lengths are counted in UTF-16 units, which is never
less than what Discord counts). Text is made inert on the way out: mentions are already defused by the
core, and here links are defused too (masked `[text](url)` links and bare `scheme://` addresses), outside
code spans, so nothing a member typed (a display name, a topic query) becomes a link.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.actions import AnswerChoice
from bot.messages import Form, FormField, Message, Style
from bot.text import defuse_mentions, outside_code

log = logging.getLogger(__name__)

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits and
# https://discord.com/developers/docs/components/reference).
TITLE = 256
DESCRIPTION = 4096
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
EMBED_TOTAL = 6000
FIELDS = 25
CONTENT = 2000
ROW_BUTTONS = 5
ROWS = 5
BUTTONS = 25
LABEL = 80
CUSTOM_ID = 100
MODAL_TITLE = 45
MODAL_LABEL = 45
MODAL_DESCRIPTION = 100
MODAL_TEXT = 4000
PLACEHOLDER = 100
MODAL_INPUTS = 5  # a modal holds at most 5 components
KEY_JOIN = ","  # the custom id of one input standing for several fields: their keys joined
VALUE_JOIN = ", "

ZWSP = "\u200b"
ELLIPSIS = "…"
FENCE = "```"

STYLES = {
    Style.PRIMARY: discord.ButtonStyle.primary,
    Style.SECONDARY: discord.ButtonStyle.secondary,
    Style.SUCCESS: discord.ButtonStyle.success,
    Style.DANGER: discord.ButtonStyle.danger,
}
COLOURS = {
    "Daily question": 0x5865F2,
    "Practice question": 0x5865F2,
    "Reveal": 0x57F287,
    "Weekly digest": 0xFEE75C,
}
DEFAULT_COLOUR = 0x4F545C

_MASKED_LINK = re.compile(r"\]\(")
_SCHEME = re.compile(r"\b([a-z][a-z0-9+.-]{1,20}):(?=//)", re.I)
_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def size(text: str) -> int:
    """Length as Discord's clients count it (UTF-16 code units): an emoji can count twice."""
    return len(text.encode("utf-16-le")) // 2


def _defuse_links(prose: str) -> str:
    prose = _MASKED_LINK.sub("]" + ZWSP + "(", prose)
    return _SCHEME.sub(lambda m: m.group(1) + ":" + ZWSP, prose)


def safe_text(text: str) -> str:
    """No mentions and no links outside code spans (inside them Discord renders neither)."""
    return outside_code(defuse_mentions(text), _defuse_links)


def _cut(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` UTF-16 units."""
    if size(text) <= limit:
        return text
    lo, hi = 0, min(len(text), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def clip(text: str, limit: int) -> str:
    """`text` shortened to `limit` with an ellipsis, at a line or word break when one is near, and with
    an open code fence closed again."""
    if size(text) <= limit:
        return text
    if limit < 8:
        return _cut(text, limit)
    room = limit - len(ELLIPSIS)
    head = _cut(text, room)
    for sep in ("\n", " "):
        at = head.rfind(sep)
        if at >= len(head) * 3 // 4:
            head = head[:at]
            break
    head = head.rstrip()
    if head.count(FENCE) % 2:
        head = _cut(head, room - len(FENCE) - 1).rstrip()
        if head.count(FENCE) % 2:
            return head + ELLIPSIS + "\n" + FENCE
    return head + ELLIPSIS


def _reopen(piece: str) -> str:
    """The fence line that opened the code block still open at the end of `piece`."""
    at = piece.rfind(FENCE)
    line_end = piece.find("\n", at)
    lang = piece[at + len(FENCE):line_end] if line_end != -1 else ""
    return FENCE + lang.strip() + "\n"


def split_text(text: str, limit: int) -> list[str]:
    """Split at line breaks (then spaces, then anywhere) into pieces of at most `limit`, closing a code
    fence at the end of a piece and reopening it at the start of the next."""
    pieces: list[str] = []
    rest = text
    reopen = ""
    while rest:
        rest = reopen + rest
        if size(rest) <= limit:
            pieces.append(rest)
            break
        head = _cut(rest, limit - len(FENCE) - 1)  # leave room to close a fence
        cut = head.rfind("\n")
        if cut < len(head) // 2:
            cut = head.rfind(" ")
        if cut < len(head) // 2 or cut <= len(reopen):
            piece, rest = rest[:len(head)], rest[len(head):]
        else:
            piece, rest = rest[:cut], rest[cut + 1:]
        if piece.count(FENCE) % 2:
            reopen = _reopen(piece)
            piece = piece.rstrip("\n") + "\n" + FENCE
        else:
            reopen = ""
        pieces.append(piece)
    return pieces


@dataclass
class Rendered:
    """What discord.py's send and edit calls take. `kwargs()` leaves out the parts that are absent."""

    content: str | None = None
    embed: discord.Embed | None = None
    view: discord.ui.View | None = None
    file: discord.File | None = None
    dropped: list[str] = field(default_factory=list)  # what did not fit, for logs and tests

    def kwargs(self, *, edit: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
        if self.content is not None or edit:
            out["content"] = self.content
        if self.embed is not None or edit:
            out["embed"] = self.embed
        if self.view is not None:
            out["view"] = self.view
        elif edit:
            out["view"] = None
        if self.file is not None:
            out["attachments" if edit else "file"] = [self.file] if edit else self.file
        return out


class StaticView(discord.ui.View):
    """Buttons only drawn by discord.py: every `sb:` custom id is routed by the adapter's interaction
    handler (from the custom id alone, so it works after a restart), so discord.py need not keep the view
    in its view store (where views would pile up and hold memory)."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    def is_finished(self) -> bool:
        return True


def render(message: Message) -> Rendered:
    out = Rendered()
    plain = (message.title is None and not message.fields and message.footer is None and message.image is None
             and message.kind is None and size(message.body) <= CONTENT)
    if plain:
        out.content = safe_text(message.body) or ELLIPSIS
    else:
        out.embed = _embed(message, out.dropped)
    if message.image is not None:
        name = _FILENAME.sub("_", message.image.filename).strip("._") or "image.png"
        out.file = discord.File(io.BytesIO(message.image.data), filename=name,
                                description=clip(safe_text(message.image.alt), 1024) or None)
        assert out.embed is not None
        out.embed.set_image(url=f"attachment://{name}")
    if message.file is not None and out.file is None:
        name = _FILENAME.sub("_", message.file.filename).strip("._") or "file"
        out.file = discord.File(io.BytesIO(message.file.data), filename=name,
                                description=clip(safe_text(message.file.description), 1024) or None)
    if message.buttons:
        out.view = _view(message, out.dropped)
    return out


def _embed(message: Message, dropped: list[str]) -> discord.Embed:
    budget = EMBED_TOTAL
    title = clip(safe_text(message.title), TITLE) if message.title else None
    budget -= size(title or "")
    author = None
    if message.kind and (not title or message.kind not in title):
        author = clip(safe_text(message.kind), AUTHOR)
        budget -= size(author)
    footer = clip(safe_text(message.footer), FOOTER) if message.footer else None
    budget -= size(footer or "")

    body = safe_text(message.body)
    pieces = split_text(body, DESCRIPTION) if body else []
    description = pieces[0] if pieces else None
    if description is not None and size(description) > budget:
        description = clip(description, budget)
        dropped.append("description (clipped)")
    budget -= size(description or "")

    fields: list[tuple[str, str, bool]] = []
    # The rest of an overlong body continues in fields, then the message's own fields, each split in
    # pieces of at most 1024 (a continuation is named with a zero-width space: names cannot be empty).
    wanted: list[tuple[str, str, bool]] = [(ZWSP, p, False) for rest in pieces[1:]
                                           for p in split_text(rest, FIELD_VALUE)]
    for f in message.fields:
        name = clip(safe_text(f.name), FIELD_NAME) or ZWSP
        value = safe_text(f.value) or ZWSP
        for i, piece in enumerate(split_text(value, FIELD_VALUE)):
            wanted.append((name if i == 0 else ZWSP, piece, f.inline and i == 0))
    for name, value, inline in wanted:
        if len(fields) == FIELDS or budget <= 0:
            dropped.append(f"field {name[:40]!r}")
            continue
        cost = size(name) + size(value)
        if cost > budget:
            room = budget - size(name)
            if room >= 40:  # worth showing a clipped part
                fields.append((name, clip(value, room), inline))
                dropped.append(f"field {name[:40]!r} (clipped)")
            else:
                dropped.append(f"field {name[:40]!r}")
            budget = 0  # nothing after a clipped field
            continue
        fields.append((name, value, inline))
        budget -= cost

    embed = discord.Embed(title=title, description=description,
                          colour=COLOURS.get(message.kind or "", DEFAULT_COLOUR))
    if author:
        embed.set_author(name=author)
    for name, value, inline in fields:
        embed.add_field(name=name, value=value, inline=inline)
    if footer:
        embed.set_footer(text=footer)
    if dropped:
        log.warning("message %r (post %s) did not fit Discord's embed limits: %d part(s) clipped or left out, "
                    "first %s", (message.title or "")[:60], message.post_id, len(dropped), dropped[0])
    return embed


def _view(message: Message, dropped: list[str]) -> StaticView | None:
    usable = []
    seen: set[str] = set()
    for b in message.buttons:
        if not b.id or len(b.id) > CUSTOM_ID or b.id in seen:
            log.warning("button %r left out: its id is empty, longer than %d or repeated", b.id, CUSTOM_ID)
            dropped.append(f"button {b.id!r}")
            continue
        seen.add(b.id)
        usable.append(b)
    # Answer options share the first row(s); the other actions start a row of their own.
    answers = [b for b in usable if isinstance(b.action, AnswerChoice)]
    others = [b for b in usable if not isinstance(b.action, AnswerChoice)]
    rows = [answers[i:i + ROW_BUTTONS] for i in range(0, len(answers), ROW_BUTTONS)]
    rows += [others[i:i + ROW_BUTTONS] for i in range(0, len(others), ROW_BUTTONS)]
    if len(rows) > ROWS:  # too many for separate rows: pack them all, answers first
        packed = answers + others
        rows = [packed[i:i + ROW_BUTTONS] for i in range(0, len(packed), ROW_BUTTONS)]
    if len(rows) > ROWS:
        for row in rows[ROWS:]:
            dropped.extend(f"button {b.id!r}" for b in row)
        log.warning("message for post %s has more than %d buttons; left out %d", message.post_id, BUTTONS,
                    sum(len(r) for r in rows[ROWS:]))
        rows = rows[:ROWS]
    if not rows:
        return None
    view = StaticView()
    for index, row in enumerate(rows):
        for b in row:
            label = clip(" ".join(safe_text(b.label).split()), LABEL) or ELLIPSIS
            view.add_item(discord.ui.Button(style=STYLES.get(b.style, discord.ButtonStyle.secondary), label=label,
                                            custom_id=b.id, row=index))
    return view


# ----------------------------------------------------------------- forms as modals
@dataclass(frozen=True, slots=True)
class ModalInput:
    """One text input of a modal: a form field, or (past Discord's 5) the form's last short fields in one
    input whose custom id joins their keys and whose value joins theirs with ", " (see form_values)."""

    custom_id: str
    label: str
    description: str
    placeholder: str
    value: str
    max_length: int
    required: bool
    paragraph: bool


def modal_inputs(form: Form) -> list[ModalInput]:
    fields = list(form.fields)
    if len(fields) > MODAL_INPUTS:
        keep, tail = fields[:MODAL_INPUTS - 1], fields[MODAL_INPUTS - 1:]
        if any(f.multiline or f.lines for f in tail):
            raise ValueError(f"form {form.title!r}: only single-line fields can share a Discord input")
        merged = FormField(
            KEY_JOIN.join(f.key for f in tail), " · ".join(f.label for f in tail),
            sum(f.max_length for f in tail) + len(VALUE_JOIN) * (len(tail) - 1), required=tail[0].required,
            placeholder=VALUE_JOIN.join(f.placeholder.split(" (")[0] for f in tail if f.placeholder),
            hint=" ".join([f"Separated by a comma: {VALUE_JOIN.join(f.label.lower() for f in tail)}.",
                           *(f.hint for f in tail if f.hint)]),
            value=VALUE_JOIN.join(f.value for f in tail) if any(f.value for f in tail) else "")
        fields = [*keep, merged]
    return [ModalInput(f.key, clip(f.label, MODAL_LABEL), clip(f.hint, MODAL_DESCRIPTION),
                       clip(f.placeholder, PLACEHOLDER), f.value[:min(f.max_length, MODAL_TEXT)],
                       min(f.max_length, MODAL_TEXT), f.required, f.multiline or f.lines > 0) for f in fields]


def form_values(inputs: dict[str, str]) -> dict[str, str]:
    """The form's values by field key from the submitted inputs (by custom id), shared inputs split again
    from the right (a topic may contain a comma; the difficulty never does)."""
    values: dict[str, str] = {}
    for custom_id, value in inputs.items():
        keys = custom_id.split(KEY_JOIN)
        parts = [p.strip() for p in value.rsplit(",", len(keys) - 1)] if len(keys) > 1 else [value]
        for n, key in enumerate(keys):
            values[key] = parts[n] if n < len(parts) else ""
    return values
