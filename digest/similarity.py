"""Which stored articles read alike: TF-IDF cosine over hashed term vectors. Computes only.

The store keeps each article's hashed term counts beside it (``digest.terms``), recomputed in
the same transaction whenever the article's content changes, so an index built from
``ArticleStore.term_vectors()`` is never staler than the store. Hashed vectors mean no
vocabulary has to be shared between processes: the counts are ready to become matrix columns
as they are. What does change with every ingest is how rare each term is, so the weights
below are worked out afresh from the rows given to ``build``; that takes a fraction of a
second for 50,000 articles, which is why no weighted index is kept between runs.

Weights:

- term frequency is sublinear, ``1 + log(count)``: an article that says "tide" twenty times
  is about tides, but not twenty times more than one that says it five times; raw counts
  would let one repeated word (and the title words ``terms`` counts three times) swamp the rest;
- inverse document frequency is smoothed, ``log((1 + n) / (1 + df)) + 1``, computed from the
  rows given, so words every article uses weigh little and no term divides by zero;
- each row is scaled to unit length, so a dot product is the cosine and long pieces do not
  outscore short ones just by having more words.

Choosing: candidates are ranked by cosine times ``SECTION_BOOST`` (1.25) when they share the
query's section (compared without regard to case), else by cosine alone. The boost prefers a
same-section piece when the two read about equally alike (a section is the publication's own
word on what a piece is about, and readers who chose it expect to stay in it), yet a clearly
closer piece from another section still wins: for a Science article, 0.20 in Science (0.25
boosted) beats 0.24 in Travel, but 0.30 in Travel beats it. Nothing whose plain cosine is
below ``MIN_COSINE`` (0.05) is offered at all, boost or not: below that, two articles share
little more than common words (among the demo corpus's 45 essays on unrelated subjects the
median pair scores 0.02 and about one pair in ten reaches 0.05). Equal scores are ordered by
article id, so the same store gives the same links on every run. An article is never
similar to itself, nor to anything in ``exclude``.

``similar_many`` answers a whole edition with one sparse product, queries x corpus^T, against a
transposed copy of the corpus made once in ``build``. Keeping that copy is what matters: a
product against the plain ``matrix.T`` makes scipy convert all 50,000 rows again (about
60 ms a query, so two seconds for an edition), while against the kept copy the product for
thirty articles takes under 0.1 s. Weights are float32: half the memory of float64, and
cosines good to six digits are more than a ranking needs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse

from digest.terms import COUNT_TYPE, DIMENSIONS, INDEX_TYPE

if TYPE_CHECKING:
    from digest.store.articles import TermRow

SECTION_BOOST = 1.25
MIN_COSINE = 0.05
WEIGHT_TYPE = np.float32
_ENTRY_BYTES = INDEX_TYPE.itemsize + COUNT_TYPE.itemsize
_WORDS_PER_INDEX = INDEX_TYPE.itemsize // COUNT_TYPE.itemsize
# 1 + log(count) for every count a uint16 can hold (count 0 never occurs; it maps to 0).
_SUBLINEAR_TF = np.concatenate(
    [[0.0], 1.0 + np.log(np.arange(1, 1 << (8 * COUNT_TYPE.itemsize), dtype=np.float64))]
).astype(np.float32)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ColumnArray = npt.NDArray[np.int32]
CountArray = npt.NDArray[np.uint16]


class SimilarityIndex:
    """Unit-length TF-IDF rows of a set of articles, ready for cosine queries."""

    def __init__(
        self,
        ids: list[str],
        sections: IntArray,
        matrix: scipy.sparse.csr_array,
    ) -> None:
        """Use ``build``; this takes rows already sorted by id and weighted.

        The transposed copy (corpus^T as CSR) is made here, once, for every later query.
        """
        self._ids = ids
        self._position = {id_: i for i, id_ in enumerate(ids)}
        self._sections = sections
        self._matrix = matrix
        self._transposed = matrix.T.tocsr()

    @classmethod
    def build(cls, rows: Sequence[TermRow]) -> SimilarityIndex:
        """Weight the stored term counts of ``rows`` (one row per article id)."""
        ordered = sorted(rows, key=lambda row: row.id)
        ids = [row.id for row in ordered]
        if len(set(ids)) != len(ids):
            raise ValueError("SimilarityIndex.build: an article id appears twice in the rows")
        codes: dict[str, int] = {}
        sections = np.fromiter(
            (codes.setdefault(row.section.casefold(), len(codes)) for row in ordered),
            dtype=np.int64,
            count=len(ordered),
        )
        columns, counts, lengths = _unpack_all([row.vector for row in ordered])
        size = len(ordered)
        indptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        document_frequency = np.bincount(columns, minlength=DIMENSIONS)
        idf = (np.log((1.0 + size) / (1.0 + document_frequency)) + 1.0).astype(WEIGHT_TYPE)
        weights = idf[columns]
        weights *= _SUBLINEAR_TF[counts]
        norms = np.zeros(size, dtype=WEIGHT_TYPE)
        filled = lengths > 0
        if weights.size:
            squares = np.add.reduceat(weights * weights, indptr[:-1][filled])
            norms[filled] = np.sqrt(squares)
        norms[norms == 0.0] = 1.0
        weights /= np.repeat(norms, lengths)
        index_type = np.int32 if indptr[-1] < np.iinfo(np.int32).max else np.int64
        matrix = scipy.sparse.csr_array(
            (weights, columns.astype(index_type, copy=False), indptr.astype(index_type)),
            shape=(size, DIMENSIONS),
        )
        return cls(ids, sections, matrix)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def nnz(self) -> int:
        """How many weighted (article, term) entries the index holds."""
        return int(self._matrix.nnz)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._position

    def similar(
        self, article_id: str, limit: int, exclude: Collection[str] = ()
    ) -> list[tuple[str, float]]:
        """The ``limit`` articles most like ``article_id``, best first, with their cosines.

        An id not in the index has no similar articles (an empty list).
        """
        return self.similar_many([article_id], limit, exclude)[article_id]

    def similar_many(
        self, article_ids: Sequence[str], limit: int, exclude: Collection[str] = ()
    ) -> dict[str, list[tuple[str, float]]]:
        """``similar`` for each of ``article_ids``, from one sparse matrix product."""
        found: dict[str, list[tuple[str, float]]] = {id_: [] for id_ in article_ids}
        queries = [id_ for id_ in found if id_ in self._position]
        if limit <= 0 or not queries:
            return found
        rows = np.array([self._position[id_] for id_ in queries], dtype=np.int64)
        cosines = np.asarray((self._matrix[rows] @ self._transposed).toarray(), dtype=np.float64)
        excluded = np.array(
            sorted({self._position[id_] for id_ in exclude if id_ in self._position}),
            dtype=np.int64,
        )
        for query, row, scores in zip(queries, rows.tolist(), cosines, strict=True):
            found[query] = self._best(row, scores, limit, excluded)
        return found

    def _best(
        self, row: int, cosines: FloatArray, limit: int, excluded: IntArray
    ) -> list[tuple[str, float]]:
        """Top ``limit`` of one query's cosine row: boosted score down, then id up."""
        ranked = np.where(self._sections == self._sections[row], cosines * SECTION_BOOST, cosines)
        ranked[cosines < MIN_COSINE] = -np.inf
        ranked[row] = -np.inf
        ranked[excluded] = -np.inf
        eligible = np.flatnonzero(ranked > -np.inf)
        if eligible.size > limit:
            # Everything that scores at least the limit-th best, ties at the boundary included.
            threshold = np.partition(ranked[eligible], eligible.size - limit)[eligible.size - limit]
            eligible = eligible[ranked[eligible] >= threshold]
        # Positions follow the sorted ids, so the position is the id tie-break.
        order = eligible[np.lexsort((eligible, -ranked[eligible]))][:limit]
        return [(self._ids[i], float(cosines[i])) for i in order.tolist()]


def _unpack_all(blobs: Sequence[bytes]) -> tuple[ColumnArray, CountArray, IntArray]:
    """Every blob's (bucket, count) entries concatenated, with the number of entries per blob.

    A ``term_vector`` blob is n little-endian uint32 buckets then n uint16 counts, so joined
    end to end the blobs are one run of 16-bit words in which each blob holds 2n words of
    buckets then n of counts. One boolean mask of that pattern picks the buckets (each two
    consecutive words, read as the uint32 they were written as) and its negation the counts:
    two vectorised selections in place of a ``terms.unpack`` per article, which measured
    three to five times slower at 50,000 articles (100,000 small arrays to make and join).
    """
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    if np.any(lengths % _ENTRY_BYTES):
        raise ValueError("SimilarityIndex.build: a term vector is not a whole number of entries")
    lengths //= _ENTRY_BYTES
    words = np.frombuffer(b"".join(blobs), dtype=COUNT_TYPE)
    runs = np.empty(2 * len(blobs), dtype=np.int64)
    runs[0::2] = lengths * _WORDS_PER_INDEX
    runs[1::2] = lengths
    is_index = np.repeat(np.tile(np.array([True, False]), len(blobs)), runs)
    columns = words[is_index].view(INDEX_TYPE).view(np.dtype("<i4"))  # buckets < 2**20 fit
    np.logical_not(is_index, out=is_index)
    counts = words[is_index]
    if columns.size and int(columns.max()) >= DIMENSIONS:
        raise ValueError("SimilarityIndex.build: a term vector has a bucket beyond DIMENSIONS")
    return columns, counts, lengths
