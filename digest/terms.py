"""An article's content words as a compact hashed term vector. Computes only.

Related links compare articles by their words (TF-IDF cosine). Tokenising 50,000 bodies on
every plan would take far longer than the two seconds an edition may spend, so each
article's term counts are computed once, when the store writes the article (and again
whenever its content changes, in the same transaction), and kept beside it as a small blob.
Only the document frequencies, which change with every ingest, are computed at query time.

Terms are hashed into ``DIMENSIONS`` buckets (the "hashing trick"): no vocabulary has to be
kept in step across processes, and a collision between two rare words costs little. The
hash is CRC-32, so a term lands in the same bucket in every process and every run. Title
words count three times and standfirst words twice, since they say what the piece is about.
Only the ``MAX_TERMS`` most frequent terms are kept (ties go to the word that appears
first: openings say what a piece is about), which bounds the blob at 960 bytes; 160 keeps
nearly every content word of a short piece and the telling ones of a long one.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

import numpy as np
import numpy.typing as npt

DIMENSIONS = 1 << 20
MAX_TERMS = 160
BODY_WORDS = 1500
TITLE_WEIGHT = 3
STANDFIRST_WEIGHT = 2
INDEX_TYPE = np.dtype("<u4")
COUNT_TYPE = np.dtype("<u2")

STOPWORDS = frozenset(
    """about above after again against all also although among and another any are around
    because been before being below between both but can could did does doing done down
    during each either even ever every few for from further had has have having her here
    hers herself him himself his how however into its itself just least less like made
    make many may might more most much must near neither nor not now off often once one
    only other others our ours ourselves out over own per quite rather said same say says
    see seen she should since some still such than that the their theirs them themselves
    then there these they this those though three through thus too two under until upon
    very was way ways well were what whatever when where whether which while who whom whose
    why will with within without would yet you your yours yourself yourselves new first
    last year years time times""".split()
)
_WORD = re.compile(r"[^\W\d_]{3,}")


def tokens(text: str) -> list[str]:
    """Lower-case content words of three letters or more, stopwords removed."""
    return [word for word in _WORD.findall(text.casefold()) if word not in STOPWORDS]


def term_counts(title: str, standfirst: str | None, body: str) -> Counter[str]:
    """Weighted counts, in order of first appearance (a Counter keeps insertion order)."""
    counts: Counter[str] = Counter()
    for word in tokens(title):
        counts[word] += TITLE_WEIGHT
    for word in tokens(standfirst or ""):
        counts[word] += STANDFIRST_WEIGHT
    counts.update(tokens(body)[:BODY_WORDS])
    return counts


def bucket(term: str) -> int:
    return zlib.crc32(term.encode()) & (DIMENSIONS - 1)


def term_vector(title: str, standfirst: str | None, body: str) -> bytes:
    """The article's hashed term counts, packed as sorted bucket indices then counts."""
    counts = term_counts(title, standfirst, body)
    merged: Counter[int] = Counter()
    # sorted() is stable: equal counts keep their order of first appearance
    for term, count in sorted(counts.items(), key=lambda item: -item[1])[:MAX_TERMS]:
        merged[bucket(term)] += count
    indices = np.array(sorted(merged), dtype=INDEX_TYPE)
    values = np.array([min(merged[i], 65535) for i in indices.tolist()], dtype=COUNT_TYPE)
    return indices.tobytes() + values.tobytes()


def unpack(blob: bytes) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint16]]:
    """The (bucket indices, counts) a ``term_vector`` blob holds."""
    size = len(blob) // (INDEX_TYPE.itemsize + COUNT_TYPE.itemsize)
    split = size * INDEX_TYPE.itemsize
    indices = np.frombuffer(blob, dtype=INDEX_TYPE, count=size)
    counts = np.frombuffer(blob, dtype=COUNT_TYPE, count=size, offset=split)
    return indices, counts
