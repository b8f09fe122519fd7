import pytest

from heavy_engine import fallback_questions, normalise_questions, parse_questions


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # the documented shape
        ('{"questions": ["a?", "b?"]}', ["a?", "b?"]),
        # a bare list
        ('["a?", "b?"]', ["a?", "b?"]),
        # JSON inside a Markdown fence with chatter around it
        ('Sure!\n```json\n{"questions": ["a?"]}\n```\nDone.', ["a?"]),
        # another key name still works
        ('{"sub_questions": ["x"]}', ["x"]),
        # objects with a question field
        ('{"questions": [{"question": "q1"}, {"text": "q2"}]}', ["q1", "q2"]),
        # whitespace is normalised, blanks and non-strings dropped
        ('{"questions": ["  a \\n b ", "", 3, null]}', ["a b"]),
        # prose is not JSON
        ("I think you should ask about X", []),
        # truncated JSON
        ('{"questions": ["a", ', []),
    ],
)
def test_parse_questions(reply: str, expected: list[str]) -> None:
    assert parse_questions(reply) == expected


@pytest.mark.parametrize(
    ("found", "n", "expected_count", "padded"),
    [
        (["a", "b", "c", "d"], 4, 4, False),  # exact
        (["a", "b", "c", "d", "e"], 3, 3, False),  # trimmed
        (["a", "A", "a!"], 3, 3, True),  # duplicates removed, then padded
        ([], 5, 5, True),  # nothing usable: all fallback
    ],
)
def test_normalise(found: list[str], n: int, expected_count: int, padded: bool) -> None:
    questions, was_padded = normalise_questions(found, "Why?", n)
    assert len(questions) == expected_count and was_padded == padded
    assert len({q.lower() for q in questions}) == len(questions)


@pytest.mark.parametrize("n", [1, 2, 8, 9, 16])
def test_fallback_is_distinct_for_any_n(n: int) -> None:
    qs = fallback_questions("What is X?", n)
    assert len(qs) == n == len(set(qs)) and all("What is X?" in q for q in qs)
