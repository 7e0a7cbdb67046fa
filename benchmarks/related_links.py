"""Related links for one edition against a store of 50,000 articles, against a 2 s budget.

Builds (or reuses) a SQLite store of synthetic articles through ``ArticleStore.upsert`` in
batches of 500, then times, in a fresh process so its peak memory is its own, what planning
an edition costs: (a) loading every article's stored term vector, (b) building the TF-IDF
index, (c) reading the edition's 30 articles (``store.get``, for their resolved reference
targets) and choosing their related links with one sparse product. A naive baseline, in
another fresh process, re-tokenises the articles' stored text into TF-IDF at query time, as
the store would have to without kept vectors; it runs on a sample and is extrapolated
linearly to the whole store (the output says so).

The text has a realistic shape: 12 topical clusters with their own vocabularies, each with
50 "stories" (a handful of names and specific words that recur), a general vocabulary shared
by all, English function words, Zipf-like frequencies; titles of 6-12 words, standfirsts of
25-40, bodies of 300-700 in paragraphs; 6 sections (a cluster keeps to one section 85% of
the time); about 10% of articles print 3-5 related references, four in five naming an
earlier article of the same cluster by its standfirst (so they resolve) and one in five a
piece that does not exist.

    .venv/bin/python benchmarks/related_links.py [--articles 50000] [--edition 30] [--db PATH]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse
from sqlalchemy import func, select

from digest.identity import slugify
from digest.model import Article, RelatedRef
from digest.related import MAX_RELATED, RelatedChoice, related_for_edition
from digest.similarity import SimilarityIndex
from digest.store.articles import ArticleStore
from digest.store.engine import create_store_engine
from digest.store.migrate import upgrade
from digest.store.schema import article_terms, articles
from digest.terms import STOPWORDS, term_counts

BUDGET_S = 2.0
BATCH = 500
SEED = 20261127
BASE_URL = "https://bench.example.com"
START = datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
STEP = timedelta(minutes=12)
SECTIONS = ["Science", "Technology", "Culture", "Economy", "Travel", "Political history"]
CLUSTERS = 12
STORIES = 50
STORY_WORDS = 20
GENERAL_WORDS = 4000
CLUSTER_WORDS = 800
FUNCTION_WORDS = (
    "the of and to in a is that for it with as was on be at by this had not are but from or "
    "have an they which one you were her all she there would their we him been has when who "
    "will more no if out so said what up its about into than them can only other new some "
    "could time these two may then do first any my now such like our over man me even most"
).split()
# Share of words from: function words, general vocabulary, the cluster's, the story's.
BODY_MIX = (0.38, 0.34, 0.22, 0.06)
HEAD_MIX = (0.25, 0.25, 0.30, 0.20)
BASELINE_SAMPLE = 5000


# -- synthetic articles ------------------------------------------------------------------


@dataclass
class Vocabulary:
    """Words and, per cluster and story, a cumulative distribution to draw them from."""

    words: npt.NDArray[np.str_]
    body_cdf: list[list[npt.NDArray[np.float64]]]
    head_cdf: list[list[npt.NDArray[np.float64]]]


def pseudo_words(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    consonants = list("bcdfghklmnprstvz")
    vowels = list("aeiou")
    found: list[str] = []
    while len(found) < count:
        syllables = int(rng.integers(2, 4))
        word = "".join(
            str(rng.choice(consonants)) + str(rng.choice(vowels)) for _ in range(syllables)
        )
        if rng.random() < 0.4:
            word += str(rng.choice(consonants))
        if word not in taken and word not in STOPWORDS:
            taken.add(word)
            found.append(word)
    return found


def zipf(size: int) -> npt.NDArray[np.float64]:
    weights = 1.0 / (np.arange(size) + 2.7) ** 1.07
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def vocabulary(rng: np.random.Generator) -> Vocabulary:
    taken: set[str] = set(FUNCTION_WORDS)
    general = pseudo_words(rng, GENERAL_WORDS, taken)
    clusters = [pseudo_words(rng, CLUSTER_WORDS, taken) for _ in range(CLUSTERS)]
    words = [*FUNCTION_WORDS, *general, *(w for c in clusters for w in c)]
    n_function, n_general = len(FUNCTION_WORDS), len(general)
    body_cdf: list[list[npt.NDArray[np.float64]]] = []
    head_cdf: list[list[npt.NDArray[np.float64]]] = []
    for c in range(CLUSTERS):
        offset = n_function + n_general + c * CLUSTER_WORDS
        body_cdf.append([])
        head_cdf.append([])
        for _ in range(STORIES):
            # A story's words: names and specifics from the cluster's rarer half.
            story = offset + rng.choice(np.arange(CLUSTER_WORDS // 2, CLUSTER_WORDS), STORY_WORDS)
            for mix, target in ((BODY_MIX, body_cdf[c]), (HEAD_MIX, head_cdf[c])):
                p = np.zeros(len(words))
                p[:n_function] += mix[0] * zipf(n_function)
                p[n_function : n_function + n_general] += mix[1] * zipf(n_general)
                p[offset : offset + CLUSTER_WORDS] += mix[2] * zipf(CLUSTER_WORDS)
                np.add.at(p, story, mix[3] / STORY_WORDS)
                cdf = np.cumsum(p)
                target.append(cdf / cdf[-1])
    return Vocabulary(np.array(words), body_cdf, head_cdf)


@dataclass
class Generator:
    """Articles 0..n-1, the same ones on every run; later numbers are newer."""

    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(SEED))
    vocab: Vocabulary = field(init=False)
    standfirsts: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    by_cluster: list[list[int]] = field(default_factory=lambda: [[] for _ in range(CLUSTERS)])

    def __post_init__(self) -> None:
        self.vocab = vocabulary(self.rng)

    def draw(self, cdf: npt.NDArray[np.float64], count: int) -> list[str]:
        picks = np.searchsorted(cdf, self.rng.random(count), side="right")
        return [str(w) for w in self.vocab.words[np.minimum(picks, len(cdf) - 1)]]

    def sentences(self, words: list[str]) -> str:
        out: list[str] = []
        at = 0
        while at < len(words):
            size = int(self.rng.integers(10, 26))
            chunk = words[at : at + size]
            out.append(chunk[0].capitalize() + " " + " ".join(chunk[1:]) + ".")
            at += size
        return " ".join(out)

    def article(self, i: int) -> Article:
        rng = self.rng
        cluster = int(rng.integers(CLUSTERS))
        story = int(rng.integers(STORIES))
        home = SECTIONS[cluster % len(SECTIONS)]
        section = home if rng.random() < 0.85 else SECTIONS[int(rng.integers(len(SECTIONS)))]
        body_cdf = self.vocab.body_cdf[cluster][story]
        head_cdf = self.vocab.head_cdf[cluster][story]
        title = " ".join(self.draw(head_cdf, int(rng.integers(6, 13)))).capitalize()
        standfirst = self.sentences(self.draw(head_cdf, int(rng.integers(25, 41))))
        words = self.draw(body_cdf, int(rng.integers(300, 701)))
        paragraphs = []
        at = 0
        while at < len(words):
            size = int(rng.integers(60, 110))
            paragraphs.append(self.sentences(words[at : at + size]))
            at += size
        related: tuple[RelatedRef, ...] = ()
        earlier = self.by_cluster[cluster]
        if len(earlier) > 5 and rng.random() < 0.10:
            related = tuple(self.reference(earlier) for _ in range(int(rng.integers(3, 6))))
        published = START + i * STEP
        self.standfirsts.append(standfirst)
        self.sections.append(section)
        earlier.append(i)
        return Article(
            title=title,
            section=section,
            source="bench",
            url=f"{BASE_URL}/{slugify(section)}/c{cluster:02d}-s{story:02d}-{i}",
            standfirst=standfirst,
            author=f"Writer {int(rng.integers(200))}",
            published_at=published,
            read_minutes=max(1, len(words) // 230),
            body="\n\n".join(paragraphs),
            related=related,
        )

    def reference(self, earlier: list[int]) -> RelatedRef:
        if self.rng.random() < 0.2:
            return RelatedRef(
                section=SECTIONS[0], standfirst="A piece this store never saw, " + str(len(earlier))
            )
        j = earlier[int(self.rng.integers(len(earlier)))]
        return RelatedRef(
            section=self.sections[j],
            standfirst=self.standfirsts[j],
            date=(START + j * STEP).date(),
        )


def build_store(path: Path, count: int) -> None:
    engine = create_store_engine(f"sqlite:///{path}")
    upgrade(engine)
    store = ArticleStore(engine, base_url=BASE_URL)
    have = store.count()
    if have >= count:
        print(f"store: reusing {path} ({have:,} articles)")
        engine.dispose()
        return
    generator = Generator()
    started = time.perf_counter()
    generating = 0.0
    for first in range(0, count, BATCH):
        mark = time.perf_counter()
        batch = [generator.article(i) for i in range(first, min(first + BATCH, count))]
        generating += time.perf_counter() - mark
        store.upsert(batch)
    elapsed = time.perf_counter() - started
    engine.dispose()
    print(
        f"store: built {path.name} with {count:,} articles in {elapsed:.1f} s "
        f"(text generation {generating:.1f} s, upserts {elapsed - generating:.1f} s, "
        f"{count / (elapsed - generating):,.0f} articles/s); one-off ingest cost, not timed below"
    )


# -- the measured paths -------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRun:
    load_s: float
    build_s: float
    read_s: float
    choose_s: float
    rows: int
    nnz: int

    @property
    def total_s(self) -> float:
        return self.load_s + self.build_s + self.read_s + self.choose_s


@dataclass(frozen=True)
class PlanReport:
    runs: list[PlanRun]
    peak_mib: float
    links: dict[str, list[RelatedChoice]]
    urls: dict[str, str]
    references_printed: int
    references_resolved: int


def edition_ids(db: Path, size: int) -> list[str]:
    """The newest ``size`` articles: what an edition's selection would hand to related links."""
    engine = create_store_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        query = select(articles.c.id).order_by(articles.c.published_at.desc(), articles.c.id)
        ids = [row.id for row in conn.execute(query.limit(size))]
    engine.dispose()
    return ids


def plan(db: Path, ids: list[str], repeats: int) -> PlanReport:
    """Phases (a)-(c) as planning runs them, ``repeats`` times in this process."""
    engine = create_store_engine(f"sqlite:///{db}")
    store = ArticleStore(engine, base_url=BASE_URL)
    runs: list[PlanRun] = []
    links: dict[str, list[RelatedChoice]] = {}
    targets: dict[str, list[str | None]] = {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = store.term_vectors()
        t1 = time.perf_counter()
        index = SimilarityIndex.build(rows)
        t2 = time.perf_counter()
        targets = {}
        for id_ in ids:
            stored = store.get(id_)
            if stored is not None:
                targets[id_] = [ref.target_id for ref in stored.related]
        t3 = time.perf_counter()
        links = related_for_edition(targets, index)
        t4 = time.perf_counter()
        runs.append(PlanRun(t1 - t0, t2 - t1, t3 - t2, t4 - t3, len(rows), index.nnz))
        del rows, index
    wanted = {c.article_id for chosen in links.values() for c in chosen} | set(ids)
    urls = {}
    for id_ in sorted(wanted):
        stored = store.get(id_)
        if stored is not None:
            urls[id_] = stored.url
    engine.dispose()
    printed = sum(len(t) for t in targets.values())
    resolved = sum(1 for t in targets.values() for x in t if x is not None)
    peak = peak_rss_mib()
    return PlanReport(runs, peak, links, urls, printed, resolved)


@dataclass(frozen=True)
class BaselineReport:
    sample: int
    read_s: float
    tokenise_s: float
    weigh_s: float
    peak_mib: float


def peak_rss_mib() -> float:
    """This process's peak resident set, from /proc (``ru_maxrss`` would also count the
    parent's, which a spawned child inherits across exec on Linux)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def baseline(db: Path, ids: list[str], sample: int) -> BaselineReport:
    """Re-tokenise ``sample`` articles' text (the edition's among them) and rank by TF-IDF."""
    engine = create_store_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        all_ids = [r.id for r in conn.execute(select(articles.c.id).order_by(articles.c.id))]
    rng = np.random.default_rng(SEED)
    others = [x for x in all_ids if x not in set(ids)]
    wanted = max(0, min(sample, len(all_ids)) - len(ids))
    picked = rng.choice(len(others), size=min(wanted, len(others)), replace=False)
    chosen = list(ids) + [others[i] for i in sorted(picked.tolist())]
    t0 = time.perf_counter()
    texts: list[tuple[str, str, str | None, str]] = []
    with engine.connect() as conn:
        for chunk in _chunks(chosen):
            query = select(
                articles.c.id, articles.c.title, articles.c.standfirst, articles.c.body
            ).where(articles.c.id.in_(chunk))
            texts += [(r.id, r.title, r.standfirst, r.body) for r in conn.execute(query)]
    t1 = time.perf_counter()
    counted = [
        (id_, term_counts(title, standfirst, body)) for id_, title, standfirst, body in texts
    ]
    t2 = time.perf_counter()
    vocabulary: dict[str, int] = {}
    indptr, columns, values = [0], [], []
    for _, counts in counted:
        for term, count in counts.items():
            columns.append(vocabulary.setdefault(term, len(vocabulary)))
            values.append(1.0 + float(np.log(count)))
        indptr.append(len(columns))
    matrix = scipy.sparse.csr_array(
        (np.array(values), np.array(columns), np.array(indptr)),
        shape=(len(counted), len(vocabulary)),
    )
    df = np.bincount(matrix.indices, minlength=len(vocabulary))
    idf = np.log((1 + len(counted)) / (1 + df)) + 1
    matrix = scipy.sparse.csr_array(matrix @ scipy.sparse.diags_array(idf))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).reshape(-1)
    norms[norms == 0] = 1
    matrix = scipy.sparse.csr_array(scipy.sparse.diags_array(1 / norms) @ matrix)
    position = {id_: n for n, (id_, _) in enumerate(counted)}
    queries = matrix[np.array([position[i] for i in ids if i in position])]
    scores = (queries @ matrix.T).toarray()
    np.argsort(-scores, axis=1)[:, : MAX_RELATED + 1]
    t3 = time.perf_counter()
    engine.dispose()
    peak = peak_rss_mib()
    return BaselineReport(len(texts), t1 - t0, t2 - t1, t3 - t2, peak)


# -- reporting ------------------------------------------------------------------------------


def store_size(db: Path) -> str:
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    size = sum(f.stat().st_size for f in files if f.exists())
    engine = create_store_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        vectors = conn.execute(select(func.sum(func.length(article_terms.c.vector)))).scalar()
        count = conn.execute(select(func.count()).select_from(article_terms)).scalar_one()
    engine.dispose()
    per = (vectors or 0) / max(count, 1)
    return (
        f"store size: {size / 2**20:,.1f} MiB on disk; term vectors {(vectors or 0) / 2**20:.1f} "
        f"MiB of it ({per:.0f} bytes per article on average)"
    )


def topic(url: str) -> tuple[str, str]:
    """(cluster, story) of a synthetic article, from its URL."""
    cluster, story, _ = url.rsplit("/", 1)[1].split("-")
    return cluster, story


def report_plan(result: PlanReport, edition: int) -> None:
    first = result.runs[0]
    print(
        f"\nplanning related links for an edition of {edition} against {first.rows:,} articles "
        f"(fresh process; {first.nnz:,} weighted terms in the index)"
    )
    print(f"  (a) load term vectors (term_vectors)        {first.load_s * 1000:8.0f} ms")
    print(f"  (b) build TF-IDF index                      {first.build_s * 1000:8.0f} ms")
    print(f"  (c) edition: store.get x{edition} (references)    {first.read_s * 1000:8.0f} ms")
    print(f"      edition: related_for_edition            {first.choose_s * 1000:8.0f} ms")
    print(f"      total                                   {first.total_s * 1000:8.0f} ms")
    if len(result.runs) > 1:
        again = ", ".join(f"{r.total_s * 1000:.0f}" for r in result.runs[1:])
        print(f"      the same again in this process: {again} ms")
    worst = max(r.total_s for r in result.runs)
    median = statistics.median(r.total_s for r in result.runs)
    verdict = "within" if worst < BUDGET_S else "OVER"
    print(
        f"  verdict: worst {worst:.2f} s, median {median:.2f} s: {verdict} the {BUDGET_S:.0f} s "
        f"budget; peak RSS {result.peak_mib:,.0f} MiB"
    )
    chosen = [c for links in result.links.values() for c in links]
    references = [c for c in chosen if c.kind == "reference"]
    similar = [c for c in chosen if c.kind == "similar"]
    print(
        f"  links: {len(chosen)} for {len(result.links)} articles ({len(references)} from "
        f"references, {len(similar)} by content); references printed "
        f"{result.references_printed}, resolved {result.references_resolved}"
    )
    same_cluster = same_story = 0
    for article_id, links in result.links.items():
        own = topic(result.urls[article_id])
        for c in links:
            if c.kind == "similar":
                theirs = topic(result.urls[c.article_id])
                same_cluster += theirs[0] == own[0]
                same_story += theirs == own
    if similar:
        print(
            f"  content links in the article's own topic cluster {same_cluster / len(similar):.0%}"
            f", own story {same_story / len(similar):.0%}"
        )


def report_baseline(result: BaselineReport, total: int, plan_total: float) -> None:
    scale = total / max(result.sample, 1)
    parts = (result.read_s, result.tokenise_s, result.weigh_s)
    estimate = sum(parts) * scale
    print(
        f"\nnaive baseline: re-tokenise every article's text into TF-IDF at query time "
        f"(fresh process; measured on a sample of {result.sample:,} articles, the edition's "
        f"among them, and extrapolated x{scale:.1f} to {total:,})"
    )
    print(f"  read title, standfirst, body   {result.read_s:6.2f} s  -> {parts[0] * scale:6.1f} s")
    print(
        f"  tokenise and count             {result.tokenise_s:6.2f} s  -> {parts[1] * scale:6.1f} s"
    )
    print(f"  vocabulary, TF-IDF, ranking    {result.weigh_s:6.2f} s  -> {parts[2] * scale:6.1f} s")
    print(
        f"  total                          {sum(parts):6.2f} s  -> {estimate:6.1f} s "
        f"({estimate / plan_total:.0f}x the stored-vector path); peak RSS "
        f"{result.peak_mib:,.0f} MiB on the sample"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--edition", type=int, default=30)
    parser.add_argument("--db", type=Path, help="a SQLite file to build or reuse (kept)")
    parser.add_argument("--repeats", type=int, default=3, help="planning runs in one process")
    parser.add_argument("--baseline-sample", type=int, default=BASELINE_SAMPLE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db: Path = args.db or Path(tmp) / "related.sqlite3"
        build_store(db, args.articles)
        print(store_size(db))
        ids = edition_ids(db, args.edition)
        spawn = get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            planned = pool.submit(plan, db, ids, args.repeats).result()
        report_plan(planned, len(ids))
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            naive = pool.submit(baseline, db, ids, args.baseline_sample).result()
        total = planned.runs[0].rows
        report_baseline(naive, total, planned.runs[0].total_s)


if __name__ == "__main__":
    main()
