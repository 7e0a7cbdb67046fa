"""ROUGE-1, ROUGE-2 and ROUGE-L F1, written out here so the figures depend on nothing else.

Tokens are case-folded runs of letters and digits (punctuation dropped, no stemming, no
stopword removal), the plainest reading of Lin (2004). ROUGE-N counts clipped n-gram
overlaps; ROUGE-L is the longest common subsequence of the two token sequences taken whole
(the summary-level score over the joined text, not the per-sentence union LCS).
F1 weighs precision and recall equally. An empty side scores 0 unless both are empty.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Rouge:
    """F1 scores of one candidate against one reference, each in [0, 1]."""

    rouge1: float
    rouge2: float
    rouge_l: float


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


def f1(overlap: int, candidate: int, reference: int) -> float:
    """F1 from an overlap count and the two sides' sizes; two empty sides agree."""
    if not candidate and not reference:
        return 1.0
    if not overlap:
        return 0.0
    precision, recall = overlap / candidate, overlap / reference
    return 2 * precision * recall / (precision + recall)


def ngrams(words: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def rouge_n(candidate: list[str], reference: list[str], n: int) -> float:
    ours, theirs = ngrams(candidate, n), ngrams(reference, n)
    overlap = sum((ours & theirs).values())
    return f1(overlap, sum(ours.values()), sum(theirs.values()))


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, row by row in O(len(a) * len(b))."""
    previous = [0] * (len(b) + 1)
    for word in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            if word == other:
                current.append(previous[j - 1] + 1)
            else:
                current.append(max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: list[str], reference: list[str]) -> float:
    return f1(lcs_length(candidate, reference), len(candidate), len(reference))


def rouge(candidate: str, reference: str) -> Rouge:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1 of ``candidate`` against ``reference``."""
    ours, theirs = tokens(candidate), tokens(reference)
    return Rouge(rouge_n(ours, theirs, 1), rouge_n(ours, theirs, 2), rouge_l(ours, theirs))
