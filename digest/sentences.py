"""Splitting text into sentences, English first. Computes only.

Summaries are made of whole sentences, so a wrong cut shows: "Mr." ending a sentence, or a
summary stopping at "the U.S." A full stop followed by a space is a boundary unless the
word before it says otherwise:

- titles (Mr., Dr., St., Gen.) always run on into a name;
- numbering words and months (No., Fig., Jan.) run on when a number follows;
- e.g., i.e. and friends always run on;
- ambiguous ones (U.S., a.m., Inc., etc.) and initials (George W. Bush) end a sentence only
  when the next word is one that usually opens a sentence ("The", "But", "He");
- a lower-case next word never starts a sentence ("Why?" she asked; etc. and so on).

Decimals never split (no space after their point), closing quotes and brackets stay with
the sentence they close, and an ellipsis is a boundary like a full stop. CJK full stops
(。！？) end a sentence with or without a space after them.
"""

from __future__ import annotations

import re

TITLES = frozenset(
    "mr mrs ms messrs mme mlle dr prof rev hon st mt ft gen gov sen rep col lt capt sgt cpl "
    "maj adm cmdr pres supt insp det".split()
)
BEFORE_NUMBERS = frozenset(
    "no nos vol vols fig figs p pp ch sec art para op ed "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
RUN_ON = frozenset("e.g i.e cf viz vs v al approx ca".split())
AMBIGUOUS = frozenset("etc inc ltd co corp llc plc bros jr sr esq dept univ".split())
SENTENCE_OPENERS = frozenset(
    "a an the this that these those there here it its he she his her they their them we our "
    "i my you your but and or so yet if when while after before as at in on for from with by "
    "to of what who how why where which many most some one no not all each every both "
    "however meanwhile still then now later today yesterday".split()
)
CLOSERS = "\"'”’»)]"
OPENERS = "\"'“‘«(["
_CLOSE = re.escape(CLOSERS)
_BOUNDARY = re.compile(
    rf"(?:(?P<cjk>[。！？]+[{_CLOSE}」』]*)|(?P<mark>\.{{3}}|…|[.!?]+)[{_CLOSE}]*(?=\s))"
)
_NEXT_WORD = re.compile(rf"\s*[{re.escape(OPENERS)}]*(?P<word>\S*)")
_DOTTED = re.compile(r"^(?:[A-Za-z]{1,2}\.)+[A-Za-z]{1,2}$")
_INITIAL = re.compile(r"^[A-Z]$")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` in order, whitespace collapsed; never an empty string."""
    text = " ".join(text.split())
    sentences = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match["cjk"] or _ends_sentence(text, match):
            sentences.append(text[start : match.end()].strip())
            start = match.end()
    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    """Whether the mark in ``match`` ends a sentence, judged by the words either side."""
    following = _NEXT_WORD.match(text, match.end())
    next_word = following["word"] if following else ""
    if not next_word or next_word[0].islower() or next_word[0] in ",;:":
        return False
    if match["mark"] != ".":
        return True
    previous = text[: match.start()].rsplit(" ", 1)[-1].lstrip(OPENERS)
    return _full_stop_ends(previous, next_word)


def _full_stop_ends(previous: str, next_word: str) -> bool:
    """Whether a full stop after ``previous`` ends the sentence, given the ``next_word``."""
    word = previous.casefold()
    if word in TITLES or word in RUN_ON:
        return False
    if word in BEFORE_NUMBERS:
        return not next_word[0].isdigit()
    if word in AMBIGUOUS or _DOTTED.match(previous) or _INITIAL.match(previous):
        return next_word.strip(OPENERS + CLOSERS + ",.").casefold() in SENTENCE_OPENERS
    return True
