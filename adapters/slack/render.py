"""Block Kit rendering of the core's neutral messages. Pure functions: no I/O, no Slack client.

Slack limits respected here (docs.slack.dev/reference/block-kit):
- at most 50 blocks in a message, 100 in a modal or the Home tab;
- header: plain_text of at most 150 characters;
- section text at most 3000 characters; at most 10 fields of at most 2000 characters each;
- actions: at most 25 elements; button text at most 75 characters, action_id at most 255, value at most 2000;
- context: at most 10 elements;
- modal title, submit and close at most 24 characters; private_metadata at most 3000 characters.

Nothing from content or user input can become a mention: `&`, `<` and `>` are escaped in every mrkdwn
text (so `<!here>`, `<@U1>` and `<#C1>` cannot be formed), mrkdwn objects are `verbatim` (Slack does not
auto-link `@here` or channel names in them), and the core has already put a zero-width space into
`@here`-style words. plain_text objects are never parsed for mentions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from bot import views
from bot.actions import Practice
from bot.messages import Button, Field, Form, Message, Style
from bot.text import defuse_mentions

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
FIELDS_PER_SECTION = 10
HEADER_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
ACTION_ID_LIMIT = 255
BUTTON_VALUE_LIMIT = 2000
ACTIONS_PER_BLOCK = 25
CONTEXT_ELEMENTS = 10
FALLBACK_LIMIT = 3000
MODAL_TITLE_LIMIT = 24
METADATA_LIMIT = 3000
ANSWER_LIMIT = 3000  # plain_text_input max_length

ANSWER_BLOCK = "answer"
ANSWER_ACTION = "text"
WORDS_CALLBACK = "sb:words"
FORM_CALLBACK = "sb:form"  # every core form; the form's own id travels in private_metadata ("f")
FORM_VALUE = "v"  # each input's action_id; its block_id is the field's key
INPUT_LIMIT = 3000  # plain_text_input max_length
PLACEHOLDER_LIMIT = 150
LABEL_LIMIT = 2000

_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
# Emphasis opens after a space or punctuation and closes before one, on one line, so `(a - b)**2` or
# `a ** 2` in content are left alone.
_EMPHASIS = re.compile(
    r"(?<![\w)\]*])\*\*(?=[^\s*])(?P<bold>[^\n]+?)(?<=[^\s*])\*\*(?![\w(\[*])"
    r"|(?<![*\w])\*(?![\s*])(?P<italic>[^*\n]+?)(?<![\s*])\*(?![*\w])")
_FENCE_LANG = re.compile(r"```[A-Za-z0-9_+#-]*\n")
_ENTITY_TAIL = re.compile(r"&[a-z]{0,4}$")
_STYLES = {Style.PRIMARY: "primary", Style.SUCCESS: "primary", Style.DANGER: "danger"}


# ----------------------------------------------------------------- text
def escape(text: str) -> str:
    """Slack's three control characters; after this no `<...>` markup (mention, link) can exist."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _emphasis(match: re.Match[str]) -> str:
    bold = match.group("bold")
    if bold is not None:
        return f"*{bold}*"
    return f"_{match.group('italic')}_"


def _prose(text: str) -> str:
    text = _EMPHASIS.sub(_emphasis, text)
    return "\n".join("• " + line[2:] if line.startswith("- ") else line for line in text.split("\n"))


def to_mrkdwn(markdown: str) -> str:
    """The core's markdown subset as Slack mrkdwn, escaped: **b** -> *b*, *i* -> _i_, "- " -> "• "."""
    text = escape(defuse_mentions(markdown))
    out: list[str] = []
    last = 0
    for code in _CODE.finditer(text):
        out.append(_prose(text[last : code.start()]))
        # Slack shows a fence's language tag as code: drop it.
        out.append(_FENCE_LANG.sub("```\n", code.group(0), count=1))
        last = code.end()
    out.append(_prose(text[last:]))
    return "".join(out)


def plain(text: str, limit: int) -> str:
    """Text for a plain_text object (never parsed for mentions), cut to `limit` characters."""
    text = " ".join(text.replace("**", "").split()) or " "
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cut(line: str, room: int) -> tuple[str, str]:
    """The head of `line` that fits `room` characters (at a space if one is near), and the rest."""
    cut = line.rfind(" ", 0, room + 1)
    if cut > room // 2:
        return line[:cut], line[cut + 1 :]
    cut = room
    tail = _ENTITY_TAIL.search(line[:cut])  # never cut an &amp; in two
    if tail:
        cut = tail.start()
    while cut > 1 and line[cut - 1] == "`":  # nor a ``` fence
        cut -= 1
    return line[:cut], line[cut:]


def split_mrkdwn(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Chunks of at most `limit` characters, cut at line breaks (a long line at a space). A code fence
    open at a cut is closed at the end of the chunk and reopened at the start of the next one."""
    if len(text) <= limit:
        return [text] if text.strip() else []
    chunks: list[str] = []
    lines: list[str] = []
    size = 0
    fence = False  # inside an open ``` at the end of `lines`

    def add(piece: str) -> None:
        nonlocal size, fence
        size += len(piece) + (1 if lines else 0)
        lines.append(piece)
        if piece.count("```") % 2:
            fence = not fence

    def flush() -> None:
        nonlocal lines, size
        body = "\n".join(lines)
        if fence:
            body += "\n```"
        if body.replace("```", "").strip():
            chunks.append(body)
        lines = ["```"] if fence else []
        size = 3 if lines else 0

    for source_line in text.split("\n"):
        line = source_line
        while True:
            room = limit - size - (1 if lines else 0) - 4  # 4: room to close a fence
            if len(line) <= room:
                add(line)
                break
            if room >= 200 or not lines:
                head, line = _cut(line, room)
                add(head)
            flush()
    if fence:
        lines.append("```")  # an unclosed fence in the source
        fence = False
    flush()
    return chunks


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain_text(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": plain(text, limit), "emoji": True}


# ----------------------------------------------------------------- blocks
def header_block(text: str) -> Block:
    return {"type": "header", "text": plain_text(text, HEADER_LIMIT)}


def section_blocks(markdown: str) -> list[Block]:
    return [{"type": "section", "text": mrkdwn(chunk)} for chunk in split_mrkdwn(to_mrkdwn(markdown))]


def _field_text(f: Field, limit: int) -> str:
    name = to_mrkdwn(f"**{f.name}**") if f.name.strip() else ""
    value = to_mrkdwn(f.value)
    return f"{name}\n{value}" if name and value else name or value or " "


def field_blocks(fields: Sequence[Field]) -> list[Block]:
    """Inline fields side by side (section fields, two columns); the others as their own sections."""
    blocks: list[Block] = []
    row: list[dict[str, Any]] = []

    def close_row() -> None:
        if row:
            blocks.append({"type": "section", "fields": list(row)})
            row.clear()

    for f in fields:
        text = _field_text(f, FIELD_LIMIT)
        if f.inline and len(text) <= FIELD_LIMIT:
            row.append(mrkdwn(text))
            if len(row) == FIELDS_PER_SECTION:
                close_row()
            continue
        close_row()
        blocks.extend({"type": "section", "text": mrkdwn(chunk)} for chunk in split_mrkdwn(text))
    close_row()
    return blocks


def button(b: Button) -> dict[str, Any]:
    if len(b.id) > ACTION_ID_LIMIT:
        raise ValueError(f"button id too long for Slack: {b.id[:40]}…")
    element: dict[str, Any] = {"type": "button", "text": plain_text(b.label, BUTTON_TEXT_LIMIT),
                               "action_id": b.id, "value": b.id}
    style = _STYLES.get(b.style)
    if style:
        element["style"] = style
    return element


def action_blocks(buttons: Sequence[Button]) -> list[Block]:
    return [{"type": "actions", "elements": [button(b) for b in buttons[i : i + ACTIONS_PER_BLOCK]]}
            for i in range(0, len(buttons), ACTIONS_PER_BLOCK)]


def context_block(markdown: str) -> Block | None:
    chunks = split_mrkdwn(to_mrkdwn(markdown))[:CONTEXT_ELEMENTS]
    return {"type": "context", "elements": [mrkdwn(c) for c in chunks]} if chunks else None


def heading(message: Message) -> str | None:
    title, kind = message.title, message.kind
    if title and kind and kind.lower() not in title.lower():
        return f"{kind} · {title}"
    return title or kind


def message_blocks(message: Message, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[Block]:
    """header, body sections, fields, image note, actions, footer; cut to `max_blocks`, keeping the
    buttons and the footer (a question must stay answerable however long it is)."""
    head: list[Block] = []
    text = heading(message)
    if text:
        head.append(header_block(text))
    content: list[Block] = section_blocks(message.body) if message.body else []
    content.extend(field_blocks(message.fields))
    if message.image is not None:
        note = context_block(f"📊 {message.image.alt}")
        if note:
            content.append(note)
    tail: list[Block] = action_blocks(message.buttons)
    footer = context_block(message.footer) if message.footer else None
    if footer:
        tail.append(footer)
    room = max_blocks - len(head) - len(tail)
    if room < 1:
        raise ValueError("too many buttons for one Slack message")
    if len(content) > room:
        content = [*content[: room - 1], context_block("_(shortened: too long for one Slack message)_") or {}]
    return head + content + tail


def fallback_text(message: Message) -> str:
    """The notification / screen-reader text Slack needs beside blocks (escaped, never empty)."""
    parts = [p for p in (heading(message), message.body) if p]
    if not parts and message.fields:
        parts = [f"{message.fields[0].name}: {message.fields[0].value}"]
    raw = _EMPHASIS.sub(lambda m: m.group("bold") or m.group("italic"), "\n".join(parts)) or "studybot"
    text = escape(defuse_mentions(raw))
    if len(text) > FALLBACK_LIMIT:
        text = text[: FALLBACK_LIMIT - 1]
        tail = _ENTITY_TAIL.search(text)
        text = (text[: tail.start()] if tail else text) + "…"
    return text


def render(message: Message) -> dict[str, Any]:
    """Keyword arguments for chat.postMessage / chat.postEphemeral / chat.update / response_url."""
    return {"text": fallback_text(message), "blocks": message_blocks(message)}


# ----------------------------------------------------------------- surfaces
def answer_modal(question: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """The "Answer in words" modal; `metadata` comes back in view_submission."""
    private = json.dumps(metadata, separators=(",", ":"))
    if len(private) > METADATA_LIMIT:
        raise ValueError("modal metadata too long")
    blocks = section_blocks(f"**{question}**")[: MAX_VIEW_BLOCKS - 1]
    blocks.append({
        "type": "input", "block_id": ANSWER_BLOCK,
        "label": plain_text("Your answer", 2000),
        "element": {"type": "plain_text_input", "action_id": ANSWER_ACTION, "multiline": True,
                    "max_length": ANSWER_LIMIT,
                    "placeholder": plain_text("A few sentences in your own words", 150)},
    })
    return {
        "type": "modal", "callback_id": WORDS_CALLBACK, "private_metadata": private,
        "title": plain_text("Answer in words", MODAL_TITLE_LIMIT),
        "submit": plain_text("Submit", MODAL_TITLE_LIMIT),
        "close": plain_text("Cancel", MODAL_TITLE_LIMIT),
        "blocks": blocks,
    }


def form_modal(form: Form, metadata: dict[str, Any]) -> dict[str, Any]:
    """A core form as a modal: one input block per field (block_id = the field's key); `metadata` comes back
    in view_submission with the form's id."""
    private = json.dumps({**metadata, "f": form.id}, separators=(",", ":"))
    if len(private) > METADATA_LIMIT:
        raise ValueError("modal metadata too long")
    blocks = section_blocks(form.intro)[:1] if form.intro else []
    for field in form.fields:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": FORM_VALUE,
                                   "multiline": field.multiline or field.lines > 0,
                                   "max_length": min(field.max_length, INPUT_LIMIT)}
        if field.placeholder:
            element["placeholder"] = plain_text(field.placeholder, PLACEHOLDER_LIMIT)
        if field.value:
            element["initial_value"] = field.value[:element["max_length"]]
        block: dict[str, Any] = {"type": "input", "block_id": field.key, "optional": not field.required,
                                 "label": plain_text(field.label, LABEL_LIMIT), "element": element}
        if field.hint:
            block["hint"] = plain_text(field.hint, LABEL_LIMIT)
        blocks.append(block)
    return {
        "type": "modal", "callback_id": FORM_CALLBACK, "private_metadata": private,
        "title": plain_text(form.title, MODAL_TITLE_LIMIT),
        "submit": plain_text(form.submit, MODAL_TITLE_LIMIT),
        "close": plain_text("Cancel", MODAL_TITLE_LIMIT),
        "blocks": blocks[:MAX_VIEW_BLOCKS],
    }


def form_state(view: dict[str, Any]) -> dict[str, str]:
    """The submitted values of a form modal, by field key."""
    values = (view.get("state") or {}).get("values") or {}
    return {str(key): str((inputs.get(FORM_VALUE) or {}).get("value") or "")
            for key, inputs in values.items() if isinstance(inputs, dict)}


def home_view(stats: Message, top: Sequence[views.Standing]) -> dict[str, Any]:
    """App Home: the member's progress with a "Practice now" button, then the team's top 5."""
    wanted = ("Points", "Streak", "Reviews due", "Accuracy")
    fields = tuple(f for f in stats.fields if f.name in wanted)
    practice = Button.of(Practice(), "Practice now", Style.PRIMARY)
    mine = Message(title="Your progress", fields=fields, buttons=(practice,),
                   footer="Practice now brings your most overdue review (or a new question) to a DM.")
    board = views.leaderboard("week", None, list(top)[:5])
    board = Message(title="Team top 5 · this week", body=board.body)
    blocks = message_blocks(mine, MAX_VIEW_BLOCKS // 2)
    blocks.append({"type": "divider"})
    blocks.extend(message_blocks(board, MAX_VIEW_BLOCKS // 2 - 1))
    return {"type": "home", "blocks": blocks}

