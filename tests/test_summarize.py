"""Summaries: the standfirst when there is one, else whole sentences of the body.

Small bodies written here pin the rules (what may never be used, the word budget, the
fallbacks, the sentence splitter); the corpus tests score ``extractive_summary`` with
``benchmarks/summary_rouge.py`` (the code that prints the figures) and hold it to floors a
little below the figures measured when they were set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from digest.sentences import split_sentences
from digest.summarize import (
    MAX_SENTENCES,
    MAX_WORDS,
    MIN_WORDS,
    candidate_sentences,
    extractive_summary,
    summarize,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from summary_rouge import MethodScore, Sample, demo_samples, evaluate, readability_samples

SHARED_CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"

HARBOUR = [
    "The harbour board met on a grey morning to weigh the cost of dredging the channel "
    "against the cost of waiting for the spring tides.",
    "Fishermen filled the back rows, and most of them had seen the channel silt up twice "
    "before, so they spoke about dredging at length.",
    "By noon the board had voted five to two to dredge the channel before the spring tides, "
    "with the cost split between the port and the town.",
    "The work is expected to start in March and to take about six weeks.",
]
FURNITURE = [
    "By Jane Doe",
    "Published by Robert Harris",
    "ADVERTISEMENT",
    "Advertisement",
    "Sponsored",
    "X Linkedin Facebook Reddit Email Bluesky",
    "Share Print Email",
    "Photo: Harbour board dredging channel tides, Reuters",
    "Image: the channel at low tide, dredging the harbour board",
    "Dredging the channel before the spring tides",
]
PULL_QUOTE = "The board voted to dredge the channel before the spring tides, and the cost is split."


def body_of(*blocks: str) -> str:
    return "\n\n".join(blocks)


def word_count(text: str) -> int:
    return len(text.split())


def assert_whole_sentences_of(summary: str, body: str) -> None:
    """1-3 of the body's usable sentences, in document order, 20-60 words in all."""
    usable = candidate_sentences(body)
    used = split_sentences(summary)
    assert 1 <= len(used) <= MAX_SENTENCES, used
    positions = [usable.index(sentence) for sentence in used]
    assert positions == sorted(positions)
    assert MIN_WORDS <= word_count(summary) <= MAX_WORDS


# -- the standfirst ---------------------------------------------------------------------------


def test_standfirst_wins() -> None:
    body = body_of(*HARBOUR)
    assert summarize("  The board will dredge before the tides.  ", body) == (
        "The board will dredge before the tides."
    )


@pytest.mark.parametrize("standfirst", [None, "", "   \n "])
def test_no_standfirst_falls_back_to_the_body(standfirst: str | None) -> None:
    body = body_of(*HARBOUR)
    assert summarize(standfirst, body) == extractive_summary(body)
    assert summarize(standfirst, body) is not None


# -- what a summary is made of ---------------------------------------------------------------


def test_normal_text_gives_whole_sentences_within_the_budget() -> None:
    body = body_of(*HARBOUR)
    summary = extractive_summary(body)
    assert summary is not None
    assert_whole_sentences_of(summary, body)


def test_every_demo_article_gets_whole_sentences_within_the_budget() -> None:
    for sample in demo_samples():
        summary = extractive_summary(sample.body)
        assert summary is not None, sample.name
        assert_whole_sentences_of(summary, sample.body)


def test_furniture_and_pull_quotes_never_appear() -> None:
    # Every piece of furniture repeats the body's central words, so only the rules keep it out.
    body = body_of(
        FURNITURE[0],
        HARBOUR[0],
        FURNITURE[2],
        FURNITURE[5],
        f"> {PULL_QUOTE}",
        HARBOUR[1] + "\n" + FURNITURE[7],
        *FURNITURE[8:],
        FURNITURE[1] + "\n" + HARBOUR[2],
        *FURNITURE[3:5],
        FURNITURE[6],
        HARBOUR[3],
    )
    summary = extractive_summary(body)
    assert summary is not None
    for text in [*FURNITURE, PULL_QUOTE]:
        assert text not in summary
        assert text not in candidate_sentences(body)
    assert candidate_sentences(body) == HARBOUR


def test_demo_pull_quotes_never_appear() -> None:
    for sample in demo_samples():
        blocks = sample.body.split("\n\n")
        quotes = [b[2:] for b in blocks if b.startswith("> ")]
        assert quotes, sample.name
        # A quote that repeats its paragraph word for word may appear through the paragraph.
        quotes = [q for q in quotes if not any(q in b for b in blocks if not b.startswith(">"))]
        summary = extractive_summary(sample.body) or ""
        assert not any(quote in summary for quote in quotes), sample.name


def test_by_opening_a_sentence_is_not_a_byline() -> None:
    body = "By noon the board had voted five to two to dredge."
    assert extractive_summary(body) == body


def test_same_input_same_output() -> None:
    for sample in demo_samples()[:10]:
        assert extractive_summary(sample.body) == extractive_summary(sample.body)


def test_ties_go_to_the_earlier_sentences() -> None:
    # No shared words, equal lengths: centrality is flat, so position decides which three.
    sentences = [
        "Apples ripen slowly in cold northern orchards every autumn season.",
        "Trains rarely arrive early at busy southern stations during winter.",
        "Violins sound warmer inside wooden concert halls built long ago.",
        "Glaciers carve deep valleys through ancient granite mountain ranges.",
    ]
    summary = extractive_summary(body_of(*sentences))
    assert summary == " ".join(sentences[:3])


# -- fallbacks ---------------------------------------------------------------------------------


def test_one_very_long_sentence_is_cut_with_an_ellipsis() -> None:
    sentence = " ".join(f"word{i}," for i in range(90)) + " and the end."
    summary = extractive_summary(sentence)
    assert summary is not None
    assert summary.endswith("…")
    assert word_count(summary) <= MAX_WORDS
    assert sentence.startswith(summary.removesuffix("…"))
    assert not summary.removesuffix("…").endswith(",")


def test_tiny_body_is_its_sentence_as_is() -> None:
    assert extractive_summary("The council met on Tuesday.") == "The council met on Tuesday."


def test_short_sentences_combine_to_reach_the_minimum() -> None:
    body = "The council met. It voted to dredge. Work starts in March. Fishermen cheered loudly."
    summary = extractive_summary(body)
    assert summary is not None
    assert word_count(summary) < MIN_WORDS  # all 13 words: nothing reaches 20, best single
    assert summary in split_sentences(body)


def test_best_single_sentence_when_nothing_fits() -> None:
    short = "The council met on Tuesday."
    long = " ".join(["word"] * 70) + "."
    assert extractive_summary(body_of(long, short)) == short


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   \n\n  ",
        body_of("By Jane Doe", "ADVERTISEMENT", "> A pull quote that is a sentence."),
        "A heading with no full stop",
    ],
)
def test_no_usable_sentence_gives_none(body: str) -> None:
    assert extractive_summary(body) is None


# -- the sentence splitter ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "Mr. Smith met Dr. Jones at St. Paul's. They talked.",
            ["Mr. Smith met Dr. Jones at St. Paul's.", "They talked."],
        ),
        ("The U.S. Senate voted. It was close.", ["The U.S. Senate voted.", "It was close."]),
        (
            "He lives in the U.S. The weather is fine.",
            ["He lives in the U.S.", "The weather is fine."],
        ),
        ("See e.g. the annex. Or i.e. this one.", ["See e.g. the annex.", "Or i.e. this one."]),
        ("It is No. 10 on Jan. 5 this year. Good.", ["It is No. 10 on Jan. 5 this year.", "Good."]),
        (
            "George W. Bush spoke. J. R. R. Tolkien wrote.",
            ["George W. Bush spoke.", "J. R. R. Tolkien wrote."],
        ),
        (
            "Prices rose 3.5 per cent. Then $4.8 billion.",
            ["Prices rose 3.5 per cent.", "Then $4.8 billion."],
        ),
        ('He said "no." Then he left.', ['He said "no."', "Then he left."]),
        ("He wrote: “It ended.” She agreed.", ["He wrote: “It ended.”", "She agreed."]),
        (
            '"Why?" she asked. (Nobody knew.) Then rain.',
            ['"Why?" she asked.', "(Nobody knew.)", "Then rain."],
        ),
        (
            "Wait... what now? Nothing… Then silence.",
            ["Wait... what now?", "Nothing…", "Then silence."],
        ),
        ("At 9 a.m. The doors opened.", ["At 9 a.m.", "The doors opened."]),
        ("这是第一句。这是第二句！", ["这是第一句。", "这是第二句！"]),
        ("  Spread\n  over   lines.  ", ["Spread over lines."]),
        ("No closing mark", ["No closing mark"]),
        ("", []),
        ("   ", []),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


# -- corpora -----------------------------------------------------------------------------------

# Measured when these floors were set (textrank / lead baseline, mean F1):
#   demo (45 articles, reference = standfirst):    ROUGE-1 0.216 / 0.184, ROUGE-L 0.133 / 0.120
#   readability (43 pages, reference = excerpt):   ROUGE-1 0.321 / 0.320, ROUGE-L 0.291 / 0.294
# Floors are about two points lower.
DEMO_FLOORS = {"rouge1": 0.195, "rouge_l": 0.113}
READABILITY_FLOORS = {"rouge1": 0.30, "rouge_l": 0.27}


def assert_floors(result: MethodScore, floors: dict[str, float]) -> None:
    for field, floor in floors.items():
        assert getattr(result, field) >= floor, f"{result.corpus} {field}: {result}"


@pytest.fixture(scope="module")
def demo() -> list[Sample]:
    return demo_samples()


def test_demo_rouge_floors(demo: list[Sample]) -> None:
    result = evaluate("demo", "textrank", demo)
    assert result.n == 45
    assert result.share_in_budget == 1.0
    assert_floors(result, DEMO_FLOORS)
    assert result.rouge1 > evaluate("demo", "lead", demo).rouge1


@pytest.mark.corpus
def test_readability_rouge_floors() -> None:
    if not SHARED_CORPORA.is_dir():
        pytest.skip(f"{SHARED_CORPORA} is absent: the shared corpora sit beside the repository")
    result = evaluate("readability", "textrank", readability_samples(SHARED_CORPORA / "articles"))
    assert result.n >= 40
    assert_floors(result, READABILITY_FLOORS)
