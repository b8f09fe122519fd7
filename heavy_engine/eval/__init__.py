"""`heavy eval`: does N agents beat one call on these questions, and at what cost?"""

from ._corpus import Corpus, CorpusFetch, CorpusSearch, Document, corpus_tools
from ._run import (
    PLUMBING_NOTE,
    EvalQuestion,
    Setup,
    SetupReport,
    default_setups,
    load_questions,
    question_line,
    run_eval,
    shipped,
)
from ._score import exact_match, normalise, normalised_match, source_hits

__all__ = [
    "PLUMBING_NOTE",
    "Corpus",
    "CorpusFetch",
    "CorpusSearch",
    "Document",
    "EvalQuestion",
    "Setup",
    "SetupReport",
    "corpus_tools",
    "default_setups",
    "exact_match",
    "load_questions",
    "normalise",
    "normalised_match",
    "question_line",
    "run_eval",
    "shipped",
    "source_hits",
]
