"""The dispatcher: typed commands in, effects out, every error a private line in the platform's words."""

from __future__ import annotations

import logging

import pytest

from bot.actions import AnswerChoice, AnswerInWords
from bot.dispatch import (
    Dispatcher,
    Help,
    OpenPrompt,
    Press,
    Quiz,
    RefreshCard,
    Reply,
    Setup,
    SubmitWords,
    TopicPicker,
)
from bot.service import Actor, StudyService


def who(platform: str, admin: bool = False) -> Actor:
    return Actor(platform, "team", "general", "u1", "Ada", is_admin=admin)


async def test_refusals_use_each_platforms_words(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    texts = {}
    for platform in ("discord", "slack", "console"):
        [effect] = await dispatcher.run(who(platform), Setup())
        assert isinstance(effect, Reply) and effect.message.ephemeral
        texts[platform] = effect.message.body
    assert texts["discord"] == "Only server admins can use /studybot setup."
    assert texts["slack"] == "⛔ Only workspace admins and owners can use /studybot setup."
    assert "admins" in texts["console"]


async def test_unknown_topic_offers_buttons_where_a_platform_has_them(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    [slack] = await dispatcher.run(who("slack"), Quiz("statz"))
    [console] = await dispatcher.run(who("console"), Quiz("statz"))
    assert isinstance(slack, Reply) and isinstance(console, Reply)
    assert "Did you mean: statistics" in slack.message.body and slack.message.buttons
    assert "Did you mean: statistics" in console.message.body and not console.message.buttons


async def test_answer_effects_prompt_and_refresh(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    [card] = await dispatcher.run(who("discord"), Quiz("training"))
    assert isinstance(card, Reply) and card.message.answerable and card.message.post_id is not None
    post = card.message.post_id
    [prompt] = await dispatcher.run(who("discord"), Press(AnswerInWords(post)))
    assert isinstance(prompt, OpenPrompt) and prompt.prompt.post_id == post
    first = await dispatcher.run(who("discord"), Press(AnswerChoice(post, 0)))
    assert [type(e) for e in first] == [Reply, RefreshCard]
    again = await dispatcher.run(who("discord"), SubmitWords(post, "gradients shrink"))
    assert [type(e) for e in again] == [Reply]  # already answered: nothing to refresh
    assert isinstance(again[0], Reply) and "already answered" in again[0].message.body


async def test_unexpected_errors_are_logged_with_a_reference(service: StudyService,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    dispatcher = Dispatcher(service)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    service.quiz = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        [effect] = await dispatcher.run(who("slack"), Quiz("training"))
    assert isinstance(effect, Reply)
    ref = effect.message.body.split("(ref ")[1][:8]
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)
    assert "disk on fire" not in effect.message.body


async def test_help_and_picker(service: StudyService) -> None:
    dispatcher = Dispatcher(service)
    [slack] = await dispatcher.run(who("slack"), Help("There is no /studybot foo. "))
    [discord] = await dispatcher.run(who("discord"), Help())
    assert isinstance(slack, Reply) and isinstance(discord, Reply)
    assert slack.message.body.startswith("There is no /studybot foo.") and "Home tab" in slack.message.body
    assert "/studybot stats" not in discord.message.body and "Topics: " in discord.message.body
    [picker] = await dispatcher.run(who("slack"), TopicPicker())
    assert isinstance(picker, Reply) and len(picker.message.buttons) == 1 + len(service.bank.topics)
