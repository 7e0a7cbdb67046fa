"""How close extractive summaries come to human-written ones (ROUGE). Reads files; no network.

Usage: ``python benchmarks/summary_rouge.py [--corpus PATH]`` (PATH defaults to
``../shared/corpora/articles``). Two corpora, each scored for ``extractive_summary`` and for
a lead baseline under the same 20-60 word budget:

- readability: Mozilla Readability's test pages; the body is what ``parse_page`` extracts
  from ``source.html``, the reference is the page's excerpt (usually its meta description).
  Every page that has an excerpt and parses is used, whatever its language (word
  counts and the 20-60 word budget mean little for Chinese or Japanese, which have no
  spaces; those pages are few and are kept so the figure covers the whole corpus);
- demo: the demo corpus (``digest/demo``); the reference is each article's standfirst, the
  body its paragraphs with pull quotes kept as "> " blocks, so excluding them is exercised.

Methods: ``textrank`` is ``extractive_summary``; ``lead`` is the first sentences until 20
words (never past 60 if that can be helped), the baseline to beat; ``lead-60`` takes up to
3 opening sentences within 60 words, to show how much of a difference is length alone.
All three draw on the same usable sentences (``candidate_sentences``).

``tests/test_summarize.py`` imports the scoring from here and holds the figures to floors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from statistics import mean

from rouge import rouge

from digest.demo import load_articles
from digest.sources.base import ParseOptions, RawDocument
from digest.sources.pages import parse_page
from digest.summarize import (
    MAX_SENTENCES,
    MAX_WORDS,
    MIN_WORDS,
    candidate_sentences,
    cut_to_words,
    extractive_summary,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "articles"
READABILITY_URL = "http://fakehost/test/page.html"

Summarizer = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Sample:
    """One body to summarise and the summary a person wrote for it."""

    name: str
    body: str
    reference: str


@dataclass(frozen=True, slots=True)
class MethodScore:
    """Mean F1 scores of one method on one corpus, with the summaries' lengths."""

    corpus: str
    method: str
    n: int
    rouge1: float
    rouge2: float
    rouge_l: float
    mean_words: float
    share_in_budget: float


def readability_samples(corpus: Path) -> list[Sample]:
    """Readability's pages with an excerpt whose body ``parse_page`` can extract."""
    samples = []
    for folder in sorted(p for p in (corpus / "readability").iterdir() if p.is_dir()):
        meta = json.loads((folder / "expected-metadata.json").read_text(encoding="utf-8"))
        excerpt = (meta.get("excerpt") or "").strip()
        doc = RawDocument(str(folder), (folder / "source.html").read_bytes(), READABILITY_URL)
        parsed = parse_page(doc, ParseOptions())
        if excerpt and parsed.articles:
            samples.append(Sample(folder.name, parsed.articles[0].body, excerpt))
    return samples


def demo_samples() -> list[Sample]:
    """The demo articles: paragraphs (pull quotes as "> " blocks) against their standfirst."""
    return [
        Sample(article.key, "\n\n".join(article.body), article.standfirst)
        for article in load_articles(date.today())
    ]


def lead_summary(body: str) -> str | None:
    """The baseline: the body's first usable sentences until 20 words, never past 60."""
    kept: list[str] = []
    for sentence in candidate_sentences(body):
        if sum(len(s.split()) for s in [*kept, sentence]) > MAX_WORDS:
            break
        kept.append(sentence)
        if sum(len(s.split()) for s in kept) >= MIN_WORDS:
            break
    if kept:
        return " ".join(kept)
    first = candidate_sentences(body)[:1]
    return cut_to_words(first[0], MAX_WORDS) if first else None


def lead_60_summary(body: str) -> str | None:
    """A longer lead: the first usable sentences, up to 3, as long as they stay within 60
    words; it shows how much of a score comes from length alone."""
    kept: list[str] = []
    for sentence in candidate_sentences(body)[:MAX_SENTENCES]:
        if sum(len(s.split()) for s in [*kept, sentence]) > MAX_WORDS:
            break
        kept.append(sentence)
    return " ".join(kept) if kept else lead_summary(body)


METHODS: dict[str, Summarizer] = {
    "textrank": extractive_summary,
    "lead": lead_summary,
    "lead-60": lead_60_summary,
}


def evaluate(corpus: str, method: str, samples: list[Sample]) -> MethodScore:
    """Score ``method`` on ``samples``; a missing summary counts as an empty one."""
    summaries = [METHODS[method](sample.body) or "" for sample in samples]
    scores = [rouge(s, sample.reference) for s, sample in zip(summaries, samples, strict=True)]
    lengths = [len(summary.split()) for summary in summaries]
    return MethodScore(
        corpus=corpus,
        method=method,
        n=len(samples),
        rouge1=mean(s.rouge1 for s in scores),
        rouge2=mean(s.rouge2 for s in scores),
        rouge_l=mean(s.rouge_l for s in scores),
        mean_words=mean(lengths),
        share_in_budget=mean(MIN_WORDS <= n <= MAX_WORDS for n in lengths),
    )


def format_table(rows: list[MethodScore]) -> str:
    lines = [
        f"{'corpus':<12} {'n':>3}  {'method':<9} {'ROUGE-1':>7} {'ROUGE-2':>7} {'ROUGE-L':>7}"
        f"  {'words':>5}  {'20-60':>5}"
    ]
    for row in rows:
        lines.append(
            f"{row.corpus:<12} {row.n:>3}  {row.method:<9} {row.rouge1:>7.3f} "
            f"{row.rouge2:>7.3f} {row.rouge_l:>7.3f}  {row.mean_words:>5.1f}"
            f"  {row.share_in_budget:>5.0%}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args(argv)
    corpora = {"demo": demo_samples()}
    pages = args.corpus / "readability"
    if pages.is_dir():
        corpora["readability"] = readability_samples(args.corpus)
        total = sum(1 for p in pages.iterdir() if p.is_dir())
        print(
            f"readability: {len(corpora['readability'])} of {total} pages used "
            "(the rest have no excerpt or no body parse_page can extract)"
        )
    else:
        print(f"{pages} is absent: scoring the demo corpus only")
    rows = [evaluate(name, method, s) for name, s in corpora.items() for method in METHODS]
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
