"""Every question of the shipped bank, in every message that shows it, rendered within Discord's limits;
then messages built to overflow every limit at once."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.discord import render as r
from adapters.discord.adapter import AnswerModal
from bot import views
from bot.bank import Bank, load_bank
from bot.bank.model import Question
from bot.clock import ManualClock
from bot.grading import grade
from bot.messages import Button, Field, Image, Message, Style, Visibility
from bot.schedule import Scheduler
from bot.service import Actor, StudyService, TextPrompt
from bot.storage import open_database
from tests.conftest import SHIPPED_BANK

CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


@pytest.fixture(scope="module")
def shipped() -> Bank:
    return load_bank(SHIPPED_BANK)


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def outside_code(text: str) -> str:
    return CODE.sub("", text)


def check_text(text: str) -> None:
    assert text.count("```") % 2 == 0, f"unbalanced code fence in {text[:80]!r}"
    prose = outside_code(text)
    assert "](" not in prose and "://" not in prose
    assert "@everyone" not in text and "@here" not in text


def check(rendered: r.Rendered) -> None:
    """Discord's limits on everything a message carries."""
    if rendered.content is not None:
        assert 1 <= units(rendered.content) <= r.CONTENT
        check_text(rendered.content)
    if rendered.embed is not None:
        e: dict[str, Any] = rendered.embed.to_dict()
        total = 0
        for key, limit in (("title", r.TITLE), ("description", r.DESCRIPTION)):
            if key in e:
                assert units(e[key]) <= limit, key
                check_text(e[key])
                total += units(e[key])
        fields = e.get("fields", [])
        assert len(fields) <= r.FIELDS
        for f in fields:
            assert 1 <= units(f["name"]) <= r.FIELD_NAME
            assert 1 <= units(f["value"]) <= r.FIELD_VALUE
            check_text(f["value"])
            total += units(f["name"]) + units(f["value"])
        if "footer" in e:
            assert units(e["footer"]["text"]) <= r.FOOTER
            total += units(e["footer"]["text"])
        if "author" in e:
            assert units(e["author"]["name"]) <= r.AUTHOR
            total += units(e["author"]["name"])
        assert total <= r.EMBED_TOTAL
        assert len(rendered.embed) <= total  # discord.py's own count (code points) is never more
    if rendered.view is not None:
        rows = rendered.view.to_components()
        assert 1 <= len(rows) <= r.ROWS
        ids = []
        for row in rows:
            assert 1 <= len(row["components"]) <= r.ROW_BUTTONS
            for button in row["components"]:
                assert 1 <= units(button["label"]) <= r.LABEL
                assert 1 <= len(button["custom_id"]) <= r.CUSTOM_ID
                ids.append(button["custom_id"])
        assert len(ids) == len(set(ids)) <= r.BUTTONS
        assert rendered.view.is_finished()  # never stored by discord.py: routed by custom id
    assert rendered.kwargs()["allowed_mentions"].to_dict() == {"parse": []}


def views_of(q: Question, post_id: int) -> Iterator[Message]:
    """Every message of bot.views that shows question `q`."""
    order = list(range(len(q.choices.options))) if q.choices else []
    random.Random(post_id).shuffle(order)
    for kind, answered in (("daily", 0), ("practice", 1), ("daily", 1234)):
        post = views.PostView(post_id, kind, q, tuple(order), answered, answered // 2)
        yield views.question_card(post)
        yield views.question_card(post, Visibility.EPHEMERAL)
        yield views.reveal_private(post, can_rate=True)
        yield views.reveal_private(post, can_rate=False)
        yield views.explanation(post)
        yield views.already_answered(post)
        for text in (q.answer, "no idea"):
            verdict = grade(q, text)
            yield views.answer_feedback(post, outcome=verdict.label, points=30, streak_bonus=5, streak=3,
                                        verdict=verdict)
        if q.choices:
            yield views.answer_feedback(post, outcome="incorrect", points=0, streak_bonus=0, streak=0,
                                        chosen=f"B. {q.choices.options[1]}")


def test_every_bank_question_renders_within_discords_limits(shipped: Bank) -> None:
    assert len(shipped) >= 100
    count = 0
    for n, q in enumerate(shipped.questions.values(), start=1):
        for message in views_of(q, 10_000_000 + n):
            rendered = r.render(message)
            check(rendered)
            assert rendered.dropped == [], f"{q.id}: {rendered.dropped}"
            count += 1
        modal = AnswerModal(TextPrompt(10_000_000 + n, q.question)).to_dict()
        assert 1 <= len(modal["title"]) <= r.MODAL_TITLE and len(modal["custom_id"]) <= r.CUSTOM_ID
        text, label = modal["components"]
        assert text["type"] == 10 and 1 <= units(text["content"]) <= 4000
        assert label["type"] == 18 and len(label["label"]) <= r.MODAL_LABEL
        assert len(label.get("description", "")) <= r.MODAL_DESCRIPTION
        assert label["component"]["max_length"] <= r.MODAL_TEXT
    assert count > 10 * len(shipped)


async def test_every_bank_question_in_its_reveal_post(shipped: Bank, tmp_path: Path) -> None:
    """The scheduled reveal is the longest message: question, answer, explanation and key points."""
    from datetime import UTC, datetime

    db = await open_database(tmp_path / "render.sqlite3")
    try:
        service = StudyService(db, shipped, ManualClock(datetime(2026, 11, 18, 10, tzinfo=UTC)),
                               rng=random.Random(5))
        await service.sync_bank()
        scheduler = Scheduler(service, {})
        channel = await service.channel_id(Actor("discord", "g", "c", "u"))
        for q in shipped.questions.values():
            post = await service.create_post(channel, q, kind="practice", local_date="2026-11-18")
            assert post is not None
            message = await scheduler.reveal_message(post)
            rendered = r.render(message)
            check(rendered)
            assert rendered.dropped == [], f"{q.id}: {rendered.dropped}"
    finally:
        await db.close()


def test_overflowing_message_is_cut_to_fit() -> None:
    code = "```python\n" + "\n".join(f"x_{i} = {i}  # a line of code" for i in range(400)) + "\n```"
    body = ("**Intro** " + "word " * 700 + "\n\n" + code + "\n\n" + "tail " * 800)
    fields = tuple(Field(f"Field {i} " + "n" * 300, "value " * 600, inline=i % 2 == 0) for i in range(40))
    buttons = tuple(Button(f"sb:a:1:{i}", "A" * 200, Style.PRIMARY) for i in range(12))
    buttons += tuple(Button(f"sb:x:{i}", f"Action {i}") for i in range(20))
    buttons += (Button("sb:" + "y" * 150, "too long an id"), Button("sb:x:1", "repeated id"), Button("sb:z", " "))
    message = Message(title="T" * 400, body=body, fields=fields, buttons=buttons, footer="f" * 3000,
                      kind="Weekly digest")
    rendered = r.render(message)
    check(rendered)
    assert rendered.embed is not None and rendered.view is not None
    e = rendered.embed.to_dict()
    assert e["title"].endswith("…") and e["author"]["name"] == "Weekly digest"
    assert len(rendered.embed) <= 6000
    assert any("button 'sb:yyyy" in d for d in rendered.dropped)
    assert "button 'sb:x:1'" in rendered.dropped  # the repeated one
    # answer options come first, five a row
    rows = rendered.view.to_components()
    assert [c["custom_id"] for c in rows[0]["components"]] == [f"sb:a:1:{i}" for i in range(5)]
    assert sum(len(row["components"]) for row in rows) == 25


def test_long_body_continues_in_fields_with_code_fences_reopened() -> None:
    code = "```sql\n" + "\n".join(f"SELECT {i} AS n UNION ALL" for i in range(300)) + "\nSELECT 0;\n```"
    rendered = r.render(Message(title="Long", body=code))
    check(rendered)
    assert rendered.embed is not None
    e = rendered.embed.to_dict()
    pieces = [e["description"], *(f["value"] for f in e.get("fields", []))]
    assert len(pieces) > 1
    assert all(p.startswith("```") and p.rstrip().endswith("```") for p in pieces)
    assert all(p.startswith("```sql") for p in pieces)  # the language survives the split


@pytest.mark.parametrize("limit", [5, 9, 40, 100, 1024])
def test_clip_and_split_respect_their_limit(limit: int) -> None:
    text = "Σ emoji 🥇🥈 and ```code``` " * 200
    assert units(r.clip(text, limit)) <= limit
    pieces = r.split_text(text, max(limit, 16))
    assert all(units(p) <= max(limit, 16) for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "").replace("```", "") \
        == text.replace(" ", "").replace("```", "")


def test_short_text_is_plain_content_and_made_inert() -> None:
    message = Message(body="Hi <@123> [free nitro](https://evil.example) see `https://ok.example` @everyone",
                      visibility=Visibility.EPHEMERAL, buttons=(Button("sb:m:1", "More"),))
    rendered = r.render(message)
    check(rendered)
    assert rendered.embed is None and rendered.content is not None
    assert "`https://ok.example`" in rendered.content  # code stays as written
    assert "<@123>" not in rendered.content and "[free nitro]\u200b(https\u200b" not in rendered.content
    assert "[free nitro]\u200b(" in rendered.content


def test_image_is_attached_and_shown_in_the_embed() -> None:
    rendered = r.render(Message(title="Weekly digest", image=Image("../chart 1.png", b"\x89PNG", "alt text")))
    check(rendered)
    assert rendered.file is not None and rendered.file.filename == "chart_1.png"
    assert rendered.embed is not None and rendered.embed.image.url == "attachment://chart_1.png"
    assert rendered.kwargs()["file"] is rendered.file


def test_edit_kwargs_replace_every_part() -> None:
    kwargs = r.render(Message(body="plain")).kwargs(edit=True)
    assert kwargs["content"] == "plain" and kwargs["embed"] is None and kwargs["view"] is None
    assert isinstance(kwargs["allowed_mentions"], discord.AllowedMentions)
