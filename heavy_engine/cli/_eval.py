"""`heavy eval`: the shipped question set (or a JSONL file) under several set-ups, as a table."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import ConfigError, HeavyConfig, simulated_fallback, use_simulated
from ..eval import (
    PLUMBING_NOTE,
    Corpus,
    Setup,
    SetupReport,
    default_setups,
    load_questions,
    question_line,
    run_eval,
    shipped,
)
from ._common import COMMANDS, load_or_exit

CORPUS_TOOLS = ["web_search", "fetch_url", "mark_task_complete"]
DESCRIPTION = """\
Run a question set through heavy under three set-ups (1 agent; N agents; N agents with
rounds=2) and print, per set-up, accuracy against the known answers, source precision, LLM
calls, tokens, cost and time: does N agents beat one call on these questions, and at what cost?

The shipped set is 30 questions about a fictional province with its own 30 documents, served
to web_search and fetch_url offline. Without an LLM key the simulated model answers: that run
measures heavy's plumbing (decomposition, tools, synthesis, scoring), not a model."""


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("eval", parents=[parent], help=COMMANDS["eval"],
                       description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", type=Path, metavar="FILE",
                   help="JSONL of {question, answers, gold} (default: the shipped set)")
    p.add_argument("--corpus", type=Path, metavar="FILE",
                   help="JSONL of {id, title, text} served to web_search/fetch_url "
                        "(the shipped set brings its own; without one the real tools run)")
    p.add_argument("--agents", type=int, default=4, help="N for the multi-agent set-ups")
    p.add_argument("--limit", type=int, help="only the first K questions")
    p.add_argument("--concurrency", type=int, default=4, help="questions at a time")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_or_exit(args)
    try:
        questions, corpus = _inputs(args)
        if not 1 <= args.agents <= 16 or args.concurrency < 1:
            raise ValueError("--agents must be 1-16 and --concurrency at least 1")
    except (ValueError, OSError) as err:
        print(f"heavy: {err}", file=sys.stderr)
        return 2
    if args.limit:
        questions = questions[: args.limit]
    if corpus is not None:
        config = config.with_overrides({"tools": CORPUS_TOOLS})
    if missing := simulated_fallback(config, os.environ):
        config = use_simulated(config)
        print(f"warning: {missing}: the simulated model answers; this run measures heavy's "
              "plumbing, not a model.", file=sys.stderr)
    setups = default_setups(args.agents)
    try:
        reports = asyncio.run(_run(config, questions, corpus, setups, args.concurrency))
    except ConfigError as err:
        print(f"heavy: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], ensure_ascii=False))
    else:
        Console(width=max(Console().width, 110)).print(table(reports))
    return 0


def _inputs(args: argparse.Namespace) -> tuple[list[Any], Corpus | None]:
    if args.questions is None:
        questions, corpus = shipped()
        return questions, Corpus.load(args.corpus) if args.corpus else corpus
    return load_questions(args.questions), Corpus.load(args.corpus) if args.corpus else None


async def _run(config: HeavyConfig, questions: list[Any], corpus: Corpus | None,
               setups: list[Setup], concurrency: int) -> list[SetupReport]:
    """The live bar on a terminal; elsewhere (a pipe, a file, CI) one line per question."""
    if not (sys.stdout.isatty() and sys.stderr.isatty()):
        finished: dict[str, int] = {}

        def line(setup: Setup, q: Any, result: Any) -> None:
            finished[setup.name] = finished.get(setup.name, 0) + 1
            print(question_line(setup, finished[setup.name], len(questions), q, result),
                  file=sys.stderr, flush=True)

        return await run_eval(config, questions, setups, corpus=corpus,
                              concurrency=concurrency, on_done=line)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(setups[0].name if setups else "eval",
                            total=len(questions) * len(setups))

        def started(setup: Setup) -> None:
            bar.update(task, description=setup.name)  # the set-up running now, from its start

        def done(*_: Any) -> None:
            bar.update(task, advance=1)

        return await run_eval(config, questions, setups, corpus=corpus,
                              concurrency=concurrency, on_done=done, on_setup=started)


def table(reports: list[SetupReport]) -> Table:
    """Accuracy, source precision, LLM calls, tokens, cost and time per set-up."""
    t = Table(title=f"heavy eval: {reports[0].questions if reports else 0} questions",
              caption=PLUMBING_NOTE if any(r.simulated for r in reports) else None)
    for col in ("set-up", "accuracy", "exact", "source precision", "LLM calls", "tokens",
                "cost", "s/question"):
        t.add_column(col, justify="left" if col == "set-up" else "right")
    for r in reports:
        precision = r.source_precision
        t.add_row(
            r.setup.name, f"{r.accuracy:.0%} ({r.correct}/{r.questions})", str(r.exact),
            "-" if precision is None else f"{precision:.0%} ({r.source_hits}/{r.sources})",
            str(r.llm_calls), f"{r.tokens:,}", f"${r.cost_usd:.4f}",
            f"{r.seconds / r.questions:.2f}" if r.questions else "-",
        )
    return t
