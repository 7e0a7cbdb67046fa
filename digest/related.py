"""Related links for the articles of an edition. Computes only.

Each article gets up to ``MAX_RELATED`` links. First come the related references the article
printed itself, in the order it printed them, wherever they resolved to a stored article:
an editor (or the publication's CMS) chose those, so they outrank anything a machine finds.
Then, to fill up, the stored articles that read most alike (``SimilarityIndex``: TF-IDF
cosine, same section preferred). A link never points at the article itself, at another
article of the same edition (the reader has it a scroll away already), or twice at one
article.

The caller does the I/O: it reads the resolved reference targets from the store
(``StoredRelated.target_id``) and builds the index from ``ArticleStore.term_vectors()``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from digest.similarity import SimilarityIndex

MAX_RELATED = 3


@dataclass(frozen=True, slots=True)
class RelatedChoice:
    """One related link: where it came from and, when found by content, how alike."""

    article_id: str
    kind: Literal["reference", "similar"]
    score: float | None  # cosine for "similar", None for "reference"


def choose_related(
    article_id: str,
    reference_targets: Sequence[str | None],
    similar: Sequence[tuple[str, float]],
    exclude: Collection[str],
    limit: int = MAX_RELATED,
) -> list[RelatedChoice]:
    """Resolved references in printed order, then similar articles, up to ``limit``.

    ``reference_targets`` holds one entry per printed reference, None where it did not
    resolve; ``similar`` is best first. Neither may bring in ``article_id`` itself, anything
    in ``exclude``, or an article already chosen.
    """
    chosen: list[RelatedChoice] = []
    taken = {article_id}
    for target in reference_targets:
        if len(chosen) >= limit:
            return chosen
        if target is None or target in taken or target in exclude:
            continue
        taken.add(target)
        chosen.append(RelatedChoice(target, "reference", None))
    for target, score in similar:
        if len(chosen) >= limit:
            break
        if target in taken or target in exclude:
            continue
        taken.add(target)
        chosen.append(RelatedChoice(target, "similar", score))
    return chosen


def related_for_edition(
    edition: Mapping[str, Sequence[str | None]],
    index: SimilarityIndex,
    limit: int = MAX_RELATED,
) -> dict[str, list[RelatedChoice]]:
    """Related links for every article of an edition, in the edition's order.

    ``edition`` maps each article id to its reference targets in printed order (None for
    an unresolved one). Every article of the edition is excluded from every list. The
    similar candidates come from one ``similar_many`` call; enough are asked for that the
    list still fills up when some of them turn out to be references already chosen. An
    article the index does not hold gets its references only.
    """
    if limit <= 0:
        return {article_id: [] for article_id in edition}
    in_edition = set(edition)
    spare = max((len(targets) for targets in edition.values()), default=0)
    similar = index.similar_many(list(edition), limit + spare, exclude=in_edition)
    return {
        article_id: choose_related(
            article_id, targets, similar.get(article_id, []), in_edition, limit
        )
        for article_id, targets in edition.items()
    }
