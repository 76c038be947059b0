"""The action codec: every action survives a round trip within every platform's id limit, and any other
text decodes to nothing instead of raising."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import actions
from bot.actions import (
    AnswerChoice,
    AnswerInWords,
    Appeal,
    DecideAppeal,
    DecideSubmission,
    EditSubmission,
    More,
    PickTopic,
    Practice,
    Rate,
    Reveal,
    SkipSubmission,
    WriteQuestion,
    decode,
    encode,
)

post_ids = st.integers(min_value=0, max_value=10**18 - 1)
every_action = st.one_of(
    st.builds(AnswerChoice, post_ids, st.integers(min_value=0, max_value=9)),
    st.builds(AnswerInWords, post_ids), st.builds(Reveal, post_ids), st.builds(More, post_ids),
    st.builds(Rate, post_ids, st.sampled_from(actions.RATINGS)),
    st.builds(Appeal, post_ids), st.builds(DecideAppeal, post_ids, st.booleans()),
    st.builds(PickTopic, st.from_regex(r"[a-z0-9]{1,19}(-[a-z0-9]{1,19})?", fullmatch=True)),
    st.just(Practice()), st.just(WriteQuestion()),
    st.builds(EditSubmission, post_ids), st.builds(DecideSubmission, post_ids, st.booleans()),
    st.builds(SkipSubmission, post_ids),
)


@given(every_action)
def test_round_trip_within_every_limit(action: actions.Action) -> None:
    text = encode(action)
    assert decode(text) == action
    assert all(len(text.encode()) <= limit for limit in actions.ID_LIMITS.values())


@given(st.text(max_size=200))
def test_any_text_decodes_to_an_action_or_none(text: str) -> None:
    found = decode("sb:" + text)
    assert found is None or encode(found) == "sb:" + text


def test_wire_format_is_stable() -> None:
    """Buttons already posted must keep working after an upgrade: these ids are a contract."""
    assert encode(AnswerChoice(42, 1)) == "sb:a:42:1"
    assert encode(AnswerInWords(42)) == "sb:w:42"
    assert encode(Rate(7, "good")) == "sb:s:7:good"
    assert encode(PickTopic("deep-learning")) == "sb:t:deep-learning"
    assert encode(Practice()) == "sb:q"
    assert encode(Appeal(42)) == "sb:p:42" and encode(DecideAppeal(7, True)) == "sb:d:7:1"
    assert encode(WriteQuestion()) == "sb:n" and encode(EditSubmission(3)) == "sb:e:3"
    assert encode(DecideSubmission(3, False)) == "sb:v:3:0" and encode(SkipSubmission(3)) == "sb:x:3"


@pytest.mark.parametrize("text", ["sb:a:1", "sb:a:x:1", "sb:a:1:12", "sb:s:1:great", "sb:t:Bad Slug", "sb:zzz",
                                  "sb:r:notanumber", "sb:a:" + "9" * 40 + ":1", "other:a:1:1", "", None, 5])
def test_damaged_or_foreign_ids_decode_to_none(text: object) -> None:
    assert decode(text) is None


def test_an_action_that_cannot_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        encode(PickTopic("a" * 70))
