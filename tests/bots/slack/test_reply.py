"""`SlackReply`: the reply target read from rows of every version, written back the same."""

from __future__ import annotations

from typing import Any

import pytest

from bots.slack._intake import slack_question
from bots.slack._reply import SlackReply
from heavy_engine.delivery import Question


@pytest.mark.parametrize(("row", "expected"), [
    # a mention as stored before the target was typed, with the ledger beside it
    ({"channel": "C1", "thread_ts": "1.1", "team": "T1", "user": "U1", "trigger_ts": "1.2",
      "card": "1.3", "parts": 2, "answered": True},
     SlackReply("C1", "1.1", "T1", "U1", trigger_ts="1.2")),
    # an assistant thread: no trigger, the question's ts instead
    ({"channel": "D1", "thread_ts": "2.1", "team": "T1", "user": "U1", "trigger_ts": None,
      "asked_ts": "2.2"},
     SlackReply("D1", "2.1", "T1", "U1", asked_ts="2.2")),
    # an old row with a key nothing reads any more, and an Enterprise Grid org
    ({"channel": "C1", "thread_ts": "3.1", "assistant": True, "enterprise": "E1"},
     SlackReply("C1", "3.1", enterprise="E1")),
])
def test_a_stored_row_reads_as_its_target(row: dict[str, Any], expected: SlackReply) -> None:
    assert SlackReply.from_reply(row) == expected


def test_the_flat_form_has_the_keys_earlier_versions_wrote() -> None:
    target = SlackReply("C1", "1.1", "T1", "U1", trigger_ts="1.2")
    assert target.as_dict() == {"channel": "C1", "thread_ts": "1.1", "team": "T1",
                                "user": "U1", "trigger_ts": "1.2"}
    assert SlackReply.from_reply(target.as_dict()) == target
    assisted = SlackReply("D1", "2.1", asked_ts="2.2")
    assert SlackReply.from_reply(assisted.as_dict()) == assisted
    assert assisted.asked == "2.2" and target.asked == "1.2"  # the message that asked


def test_a_question_carries_its_typed_target() -> None:
    question = slack_question(team="T1", channel="C1", user="U1", text="Q?", thread_ts="1.1",
                              trigger_ts="1.1", dedup_key=None, settings_channel="C0")
    assert SlackReply.of(question) == SlackReply("C1", "1.1", "T1", "U1", trigger_ts="1.1")
    assert question.channel == "C0"  # the settings scope is the question's, not the target's

    class Elsewhere:
        def as_dict(self) -> dict[str, Any]:
            return {"channel": "x"}

    other = Question(platform="slack", workspace="T1", channel="C1", user="U1", text="Q?",
                     reply=Elsewhere())
    with pytest.raises(TypeError, match="SlackReply, not Elsewhere"):
        SlackReply.of(other)
