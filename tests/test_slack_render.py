"""Block Kit rendering: every question of the shipped bank, in every message the bot shows, within every
Slack limit, and nothing can become a mention."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk.models.blocks import Block as SdkBlock

from adapters.slack import render
from bot import views
from bot.bank import Bank, load_bank
from bot.bank.model import Question
from bot.grading import grade
from bot.messages import Button, Field, Message, Style
from tests.conftest import SHIPPED_BANK

Blocks = list[dict[str, Any]]


@pytest.fixture(scope="module")
def shipped() -> Bank:
    return load_bank(SHIPPED_BANK)


def texts(blocks: Blocks) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, text object) for every text object in the blocks."""
    for block in blocks:
        kind = block["type"]
        for key in ("text", "label"):
            if isinstance(block.get(key), dict):
                yield f"{kind}.{key}", block[key]
        for f in block.get("fields", []):
            yield f"{kind}.field", f
        for element in block.get("elements", []):
            if element.get("type") == "button":
                yield "button", element["text"]
            else:
                yield f"{kind}.element", element
        element = block.get("element")
        if isinstance(element, dict) and isinstance(element.get("placeholder"), dict):
            yield "input.placeholder", element["placeholder"]


def check_blocks(blocks: Blocks, max_blocks: int = render.MAX_MESSAGE_BLOCKS) -> None:
    assert 0 < len(blocks) <= max_blocks
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(0 < len(f["text"]) <= 2000 for f in block.get("fields", []))
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            ids = [e["action_id"] for e in block["elements"]]
            assert len(set(ids)) == len(ids)
            for e in block["elements"]:
                assert e["action_id"].startswith("sb:") and len(e["action_id"]) <= 255
                assert e["value"] == e["action_id"] and len(e["value"]) <= 2000
                assert 0 < len(e["text"]["text"]) <= 75 and e["text"]["type"] == "plain_text"
                assert e.get("style") in (None, "primary", "danger")
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(0 < len(e["text"]) <= 3000 for e in block["elements"])
        else:
            assert kind in ("divider", "input"), kind
        # the SDK's own validation of the same limits
        parsed = SdkBlock.parse(block)
        assert parsed is not None
        parsed.validate_json()
    for where, obj in texts(blocks):
        if obj["type"] == "mrkdwn":
            assert obj.get("verbatim") is True, where
            check_mrkdwn(obj["text"])


def check_mrkdwn(text: str) -> None:
    assert "<" not in text and ">" not in text  # every angle bracket escaped: no <!here>, <@U1>, <#C1>, links
    assert not re.search(r"&(?!amp;|lt;|gt;)", text)  # every & escaped
    assert text.count("```") % 2 == 0  # code fences balanced within each block
    assert not re.search(r"(^|\n)\*\*\S", text)  # the core's bold (at line starts) was converted


def check_message(message: Message) -> dict[str, Any]:
    payload = render.render(message)
    assert 0 < len(payload["text"]) <= 4000
    assert "<" not in payload["text"]
    check_blocks(payload["blocks"])
    dumped = json.dumps(payload, ensure_ascii=False)
    for forbidden in ("<!", "<@", "<#", "@here", "@channel", "@everyone"):
        assert forbidden not in dumped
    return payload


def every_message(q: Question) -> Iterator[Message]:
    n = len(q.choices.options) if q.choices else 0
    order = tuple(reversed(range(n)))
    for kind, answered, correct, revealed in (("daily", 0, 0, False), ("practice", 7, 3, False),
                                               ("daily", 1000, 999, True)):
        post = views.PostView(42, kind, q, order, answered, correct, revealed)
        yield views.question_card(post)
        yield views.reveal_private(post, can_rate=True)
        yield views.explanation(post)
        yield views.already_answered(post)
        for outcome in ("correct", "incorrect"):
            yield views.answer_feedback(post, outcome=outcome, points=30, streak_bonus=5, streak=4,
                                        chosen=f"A. {q.choices.options[-1]}" if q.choices else None)
        verdict = grade(q, q.answer)
        yield views.answer_feedback(post, outcome=verdict.label, points=20, streak_bonus=0, streak=0, verdict=verdict)


def test_every_bank_question_renders_within_slack_limits(shipped: Bank) -> None:
    assert len(shipped) > 200
    count = 0
    for q in shipped.questions.values():
        for message in every_message(q):
            check_message(message)
            count += 1
        modal = render.answer_modal(q.question, {"p": 123456, "c": "C0123456789", "t": "1700000000.000100",
                                                 "u": "https://hooks.slack.com/actions/T1/1234567890/abcdefghij"
                                                      "klmnopqrstuvwx", "e": 0, "d": 0, "n": "ml-interviews"})
        assert len(modal["title"]["text"]) <= 24 and len(modal["private_metadata"]) <= 3000
        check_blocks(modal["blocks"], render.MAX_VIEW_BLOCKS)
    assert count == len(shipped) * 21


def test_question_card_shape(shipped: Bank) -> None:
    q = next(q for q in shipped.questions.values() if q.choices)
    post = views.PostView(7, "daily", q, (2, 0, 1, 3), 2, 1)
    blocks = render.render(views.question_card(post))["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "actions", "context"]
    assert blocks[0]["text"]["text"].startswith("Daily question · ")
    assert [e["action_id"] for e in blocks[2]["elements"]] == [
        "sb:a:7:0", "sb:a:7:1", "sb:a:7:2", "sb:a:7:3", "sb:w:7", "sb:r:7"]
    assert [e.get("style") for e in blocks[2]["elements"]][:4] == ["primary"] * 4
    assert blocks[3]["elements"][0]["text"] == "2 people have answered."


def test_markdown_subset_becomes_mrkdwn() -> None:
    md = "**Bold** and *italic*, `a*b*c` and ```python\nx = a ** 2 * b\n```\n- one\n- two\n2 * 3 * 4"
    out = render.to_mrkdwn(md)
    assert out.startswith("*Bold* and _italic_, `a*b*c` and ```\nx = a ** 2 * b\n```")
    assert "• one\n• two" in out and out.endswith("2 * 3 * 4")


def test_escaping_and_mentions() -> None:
    body = "Tom & Jerry <script> <!channel> <!here> <@U123> <#C123|general> @here @channel @everyone x<y>z"
    payload = check_message(Message(title="<!here> title", body=body, fields=(Field("<@U1>", "<!channel>", True),),
                                    buttons=(Button("sb:q", "<!here> press"),), footer="<@U2>"))
    section = payload["blocks"][1]["text"]["text"]
    assert "Tom &amp; Jerry &lt;script&gt;" in section and "x&lt;y&gt;z" in section


def test_long_text_is_split_at_3000_and_fences_stay_balanced() -> None:
    code = "```\n" + "\n".join(f"line_{i} = {i} * x  # {'&' * 3}" for i in range(400)) + "\n```"
    prose = " ".join(["word"] * 2000)
    body = f"{prose}\n{code}\n{'y' * 7000}"
    blocks = check_message(Message(body=body, buttons=(Button("sb:q", "Go"),), footer="end"))["blocks"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) > 4
    joined = "".join(s.replace("```", "") for s in sections)
    for piece in ("line_0 = 0", "line_399 = 399", "&amp;&amp;&amp;"):
        assert piece in joined
    assert joined.count("y") >= 7000


def test_fifty_block_cap_keeps_buttons_and_footer() -> None:
    huge = "\n".join("x" * 2900 for _ in range(80))
    fields = tuple(Field(f"f{i}", "v", inline=True) for i in range(30))
    buttons = tuple(Button(f"sb:t:topic-{i}", f"Topic {i}", Style.SECONDARY) for i in range(30))
    blocks = check_message(Message(title="T", body=huge, fields=fields, buttons=buttons, footer="foot"))["blocks"]
    assert len(blocks) == 50
    assert [b["type"] for b in blocks[-3:]] == ["actions", "actions", "context"]
    assert sum(len(b["elements"]) for b in blocks if b["type"] == "actions") == 30
    assert "shortened" in blocks[-4]["elements"][0]["text"]


def test_inline_fields_pack_ten_per_section_and_long_ones_get_their_own() -> None:
    fields = (*(Field(f"n{i}", "v", inline=True) for i in range(12)), Field("long", "z " * 1500, inline=True))
    blocks = check_message(Message(fields=fields))["blocks"]
    assert [len(b.get("fields", [])) for b in blocks] == [10, 2, 0, 0]


def test_labels_are_cut_to_75_and_fallback_text_is_never_empty() -> None:
    payload = check_message(Message(buttons=(Button("sb:q", "L" * 200),)))
    assert len(payload["blocks"][0]["elements"][0]["text"]["text"]) == 75
    assert payload["text"]


def test_home_view(shipped: Bank) -> None:
    stats = views.stats(views.MemberStats("<!here>", 120, 8, 10, 3, 5, 2, [("NLP", 4, 5)]))
    top = [views.Standing(i, f"member {i} <@U{i}>", 100 - i, 3, 4) for i in range(1, 6)]
    view = render.home_view(stats, top)
    assert view["type"] == "home"
    check_blocks(view["blocks"], render.MAX_VIEW_BLOCKS)
    dumped = json.dumps(view)
    assert "sb:q" in dumped and "Team top 5" in dumped and "<@" not in dumped
