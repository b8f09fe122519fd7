import pytest

from heavy_engine import fallback_questions, normalise_questions, parse_questions
from heavy_engine.core._decompose import bound_questions, is_question, usable_questions


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


A, B, C, D, E = (f"What does {x} say about indexing?" for x in ("Alice", "Bob", "Carol", "Dave",
                                                                   "Eve"))


@pytest.mark.parametrize(
    ("found", "n", "expected_count", "padded"),
    [
        ([A, B, C, D], 4, 4, False),  # exact
        ([A, B, C, D, E], 3, 3, False),  # trimmed
        ([A, A.upper(), A + "!"], 3, 3, True),  # duplicates removed, then padded
        ([], 5, 5, True),  # nothing usable: all fallback
        (["1.1", "2.0"], 2, 2, True),  # section numbers: all fallback
        ([A, "PostgreSQL"], 2, 2, True),  # a bare keyword is replaced by an angle
    ],
)
def test_normalise(found: list[str], n: int, expected_count: int, padded: bool) -> None:
    questions, was_padded = normalise_questions(found, "Why?", n)
    assert len(questions) == expected_count and was_padded == padded
    assert len({q.lower() for q in questions}) == len(questions)
    assert all(is_question(q) for q in questions)


@pytest.mark.parametrize(
    ("text", "usable"),
    [
        ("How does PostgreSQL index JSON columns?", True),  # a question
        ("Compare the licences of PostgreSQL and MySQL", True),  # an instruction in words
        ("Why PostgreSQL?", True),  # two words, asked as a question
        ("PostgreSQL 和 MySQL 哪个更适合小型网站？", True),  # written without spaces: characters count
        ("1.1", False),  # a section number
        ("2.0", False),  # a version number
        ("PostgreSQL", False),  # a bare keyword
        ("PostgreSQL MySQL", False),  # two keywords, not asked
        ("1. Introduction", False),  # a heading
        ("???", False),  # punctuation only
        ("", False),  # nothing
    ],
)
def test_a_sub_question_is_a_question_in_words(text: str, usable: bool) -> None:
    assert is_question(text) is usable


@pytest.mark.parametrize(
    ("found", "kept", "dropped"),
    [
        ([A, B], [A, B], []),  # all good
        ([A, "1.1", B, "2.0"], [A, B], ["1.1", "2.0"]),  # numbers dropped, order kept
        ([A, A.lower(), A.replace("?", " ?!")], [A], [A.lower(), A.replace("?", " ?!")]),
        # repeats ignore case and punctuation; the first one stays
        (["PostgreSQL", "MySQL", "SQLite"], [], ["PostgreSQL", "MySQL", "SQLite"]),  # keywords
    ],
)
def test_usable_questions_drop_non_questions_and_repeats(
    found: list[str], kept: list[str], dropped: list[str]
) -> None:
    assert usable_questions(found) == (kept, dropped)


@pytest.mark.parametrize(
    ("found", "expected", "fallback"),
    [
        ([A, B], [A, B], False),  # the model's choice stands
        (["1.1", "2.0"], ["Why?"], True),  # nothing usable: the question itself, one agent
        (["PostgreSQL", A], [A], False),  # the keyword goes, the question stays
    ],
)
def test_bound_questions_for_agents_auto(
    found: list[str], expected: list[str], fallback: bool
) -> None:
    assert bound_questions(found, "Why?", 8) == (expected, fallback)


@pytest.mark.parametrize("n", [1, 2, 8, 9, 16])
def test_fallback_is_distinct_for_any_n(n: int) -> None:
    qs = fallback_questions("What is X?", n)
    assert len(qs) == n == len(set(qs)) and all("What is X?" in q for q in qs)
