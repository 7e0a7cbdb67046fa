"""The ROUGE scorer the summary benchmark uses (``benchmarks/rouge.py``), on hand-worked cases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from rouge import lcs_length, ngrams, rouge, rouge_l, rouge_n, tokens


def test_tokens_fold_case_and_drop_punctuation() -> None:
    assert tokens("The Cat, the hat -- and 3.5 “quotes”!") == [
        "the",
        "cat",
        "the",
        "hat",
        "and",
        "3",
        "5",
        "quotes",
    ]


def test_identical_texts_score_one() -> None:
    scores = rouge("The board voted to dredge.", "the board voted to dredge")
    assert (scores.rouge1, scores.rouge2, scores.rouge_l) == (1.0, 1.0, 1.0)


def test_disjoint_texts_score_zero() -> None:
    scores = rouge("red green blue", "one two three")
    assert (scores.rouge1, scores.rouge2, scores.rouge_l) == (0.0, 0.0, 0.0)


def test_worked_example() -> None:
    scores = rouge("the cat sat on the mat", "the cat lay on the mat")
    assert scores.rouge1 == pytest.approx(5 / 6)  # the x2, cat, on, mat
    assert scores.rouge2 == pytest.approx(3 / 5)  # the cat, on the, the mat
    assert scores.rouge_l == pytest.approx(5 / 6)  # the cat on the mat


def test_precision_and_recall_differ_by_length() -> None:
    # 3 of 3 candidate words match, 3 of 6 reference words: P = 1, R = 0.5, F1 = 2/3.
    assert rouge_n(["a", "b", "c"], ["a", "b", "c", "d", "e", "f"], 1) == pytest.approx(2 / 3)


def test_counts_are_clipped() -> None:
    # "the" three times against once: one match, P = 1/3, R = 1, F1 = 0.5.
    assert rouge_n(["the", "the", "the"], ["the"], 1) == pytest.approx(0.5)


def test_ngrams() -> None:
    assert ngrams(["a", "b", "a", "b"], 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert ngrams(["a"], 2) == {}


def test_lcs_is_a_subsequence_not_a_substring() -> None:
    assert lcs_length(list("abcbdab"), list("bdcaba")) == 4
    assert lcs_length([], ["a"]) == 0
    assert rouge_l(["a", "x", "b", "y", "c"], ["a", "b", "c"]) == pytest.approx(2 * 0.6 / 1.6)


def test_empty_sides() -> None:
    assert rouge("", "").rouge1 == 1.0
    assert rouge("", "something").rouge1 == 0.0
    assert rouge("something", "").rouge_l == 0.0
