"""`heavy eval`: corpus tools, scoring, the runner and the command, offline."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from heavy_engine.cli import main
from heavy_engine.core._config import HeavyConfig, use_simulated
from heavy_engine.eval import (
    Corpus,
    CorpusFetch,
    Document,
    default_setups,
    exact_match,
    load_questions,
    normalise,
    normalised_match,
    run_eval,
    shipped,
    source_hits,
)
from heavy_engine.tools import ToolContext, ToolFailed


def test_the_shipped_set_has_30_questions_whose_gold_documents_exist() -> None:
    questions, corpus = shipped()
    assert len(questions) == 30 and len({q.id for q in questions}) == 30
    for q in questions:
        assert q.answers and q.gold
        assert all(corpus.url_of(g) in corpus.by_url for g in q.gold)
        # every answer is written in one of its gold documents
        texts = " ".join(corpus.by_url[corpus.url_of(g)].text for g in q.gold)
        assert normalised_match(texts, q.answers), q.id


def test_corpus_search_ranks_by_the_question_and_fetch_reads_only_the_corpus() -> None:
    _, corpus = shipped()
    top = corpus.search("In what year did the Kelvar Bridge open?", 3)
    assert top[0].id == "kelvar-bridge"
    assert corpus.search("zzz qqq", 3) == []
    fetch = CorpusFetch(corpus)
    ctx = ToolContext("t")
    text = asyncio.run(fetch.run(fetch.Params(url=top[0].address), ctx))
    assert text.startswith("URL: https://corpus.heavy.invalid/kelvar-bridge\nTitle: Kelvar Bridge")
    with pytest.raises(ToolFailed, match="not in the document collection"):
        asyncio.run(fetch.run(fetch.Params(url="https://example.com/"), ctx))


@pytest.mark.parametrize(
    ("answer", "golds", "normalised", "exact"),
    [
        ("1874", ["1874"], True, True),  # the bare answer
        ("It opened in 1874.", ["1874"], True, False),  # inside a sentence
        ("About 1,700 people.", ["1700"], True, False),  # thousands separator
        ("The Grey Lantern!", ["grey lantern"], True, True),  # case, article, punctuation
        ("In 18745.", ["1874"], False, False),  # not a whole word
        ("Quill.\n\n**Sources**\n1. [1874](https://x)", ["1874"], False, False),  # not the list
        ("Crème", ["creme"], True, True),  # accents
    ],
)
def test_matching(answer: str, golds: list[str], normalised: bool, exact: bool) -> None:
    assert normalised_match(answer, golds) is normalised
    assert exact_match(answer, golds) is exact


def test_normalise_and_source_hits() -> None:
    assert normalise("The  Bridge, of   KELVAR") == "bridge of kelvar"
    assert source_hits(["https://a.io/x/", "https://b.io"], ["https://a.io/x"]) == (1, 2)
    assert source_hits([], ["https://a.io"]) == (0, 0)


def test_load_questions_reads_answer_or_answers_and_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Q?", "answer": "A"}\n\n{"question": "R?", "answers": ["B"]}\n')
    assert [(q.id, q.answers) for q in load_questions(path)] == [("q1", ("A",)), ("q3", ("B",))]
    path.write_text('{"question": "Q?"}\n')
    with pytest.raises(ValueError, match=r"q.jsonl:1: expected an object with question"):
        load_questions(path)


async def test_run_eval_with_the_simulated_model_counts_calls_exactly(tmp_path: Path) -> None:
    questions, corpus = shipped()
    config = use_simulated(HeavyConfig(tools=["web_search", "fetch_url"]))
    reports = await run_eval(config, questions[:3], default_setups(4), corpus=corpus)
    assert [r.setup.name for r in reports] == ["1 agent", "4 agents", "4 agents, rounds=2"]
    # one agent: search, fetch, answer; four: +decompose +synthesis; rounds=2: +1 per agent
    assert [r.llm_calls for r in reports] == [3 * 3, 3 * 14, 3 * 18]
    assert all(r.correct == 3 and r.failed == 0 for r in reports)
    assert reports[0].source_precision == 1.0  # the one page read is the gold one
    assert reports[1].sources > reports[0].sources  # four agents read more pages


def test_heavy_eval_prints_a_table_and_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["eval", "--limit", "2", "--agents", "2"]) == 0
    out = capsys.readouterr()
    assert "simulated model answers; this run measures heavy's plumbing, not a model" in out.err
    for word in ("accuracy", "source precision", "LLM calls", "tokens", "cost", "2 agents"):
        assert word in out.out
    assert "measure heavy's plumbing" in out.out  # under the table, not only in a warning
    # Not a terminal: one line per question and set-up as each ends, no live bar.
    lines = [line for line in out.err.splitlines() if line.startswith("[")]
    assert len(lines) == 2 * 3
    assert re.fullmatch(r"\[2 agents, rounds=2\] 2/2 q0[12] correct · \d+\.\ds · 10 LLM calls",
                        lines[-1]), lines[-1]
    assert main(["eval", "--limit", "2", "--agents", "2", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert all(r["simulated"] for r in reports)
    # per question: 3 calls; 1 + 2 agents x 3 + 1 = 8; plus 2 compare-notes calls = 10
    assert [r["llm_calls"] for r in reports] == [2 * 3, 2 * 8, 2 * 10]
    assert reports[0]["accuracy"] == 1.0


def test_heavy_eval_help_says_what_eval_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "1 agent; N agents; N agents with rounds=2" in text
    assert "measures heavy's plumbing (decomposition, tools, synthesis, scoring), not a model" in text


async def test_each_set_up_is_announced_before_its_questions_end() -> None:
    questions, corpus = shipped()
    config = use_simulated(HeavyConfig(tools=["web_search", "fetch_url"]))
    seen: list[str] = []
    await run_eval(config, questions[:2], default_setups(2), corpus=corpus,
                   on_setup=lambda s: seen.append(f"start {s.name}"),
                   on_done=lambda s, q, r: seen.append(s.name))
    assert seen == ["start 1 agent", "1 agent", "1 agent", "start 2 agents", "2 agents",
                    "2 agents", "start 2 agents, rounds=2", "2 agents, rounds=2",
                    "2 agents, rounds=2"]


def test_heavy_eval_with_a_users_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "d1", "title": "Zorb", "text": "Zorbs are 7 cm."}) + "\n")
    qs = tmp_path / "q.jsonl"
    qs.write_text(json.dumps({"question": "How big are zorbs?", "answer": "7 cm",
                              "gold": ["d1"]}) + "\n")
    assert main(["eval", "--questions", str(qs), "--corpus", str(docs), "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [r["correct"] for r in reports] == [1, 1, 1]
    assert reports[0]["source_precision"] == 1.0
    assert main(["eval", "--questions", str(tmp_path / "missing.jsonl")]) == 2


def test_corpus_loads_documents_with_their_own_urls(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "x", "text": "t", "url": "https://own.example/x"}) + "\n")
    corpus = Corpus.load(path)
    assert corpus.docs == [Document("x", "x", "t", "https://own.example/x")]
