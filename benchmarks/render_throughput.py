"""Personalisation speed: compile once per variant and fill, against render-per-subscriber.

Prints, in one run on this machine: copies per second of the real path (a variant compiled
once, each subscriber's HTML and text filled in), of the naive path (a Jinja render and an
MJML compile per subscriber), their ratio, and the peak memory of streaming 100,000
subscribers through the real path. With --mime, also MIME messages per second.

    .venv/bin/python benchmarks/render_throughput.py [--copies 50000] [--stream 100000]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from snapshots import LINKS, LONGEST, SECTION_NAMES, snapshot, values_for

from digest.render.context import ContextOptions, Trim, digest_context
from digest.render.copies import CopyMaker
from digest.render.personal import PersonalTemplate, Recipient
from digest.render.templates import TemplateSet
from digest.render.variants import EditionRenderer, RenderOptions, compile_mjml

NAMES = ["Ana", "Bea Müller", "Chidi", "", "Dmitri O'Neil", "Émilie", "Farah", "Gus"]


def recipients(count: int, seed: int = 7) -> Iterator[Recipient]:
    """Subscribers with their own section choices: about a quarter take everything."""
    rng = random.Random(seed)
    for number in range(count):
        if rng.random() < 0.25:
            sections = None
        else:
            sections = tuple(s for s in SECTION_NAMES if rng.random() < 0.6) or ("Science",)
        name = rng.choice(NAMES)
        yield Recipient(f"s{number}", f"reader{number}@example.org", name, sections)


def naive_copy(templates: TemplateSet, snap: dict[str, object], who: Recipient) -> tuple[str, str]:
    """Everything per subscriber: Jinja render of MJML and text, then an MJML compile."""
    renderer_options = ContextOptions(base_url="https://news.example.com")
    sections = tuple(who.sections or SECTION_NAMES)
    patterns = {"subject": "s", "preheader": "p"}
    context = digest_context(snap, sections, renderer_options, Trim(), patterns)
    values = values_for(who)
    mjml = PersonalTemplate.parse(templates.render("email/digest.mjml", context)).fill(values)
    text = PersonalTemplate.parse(templates.render("email/digest.txt", context)).fill(values)
    return compile_mjml(mjml), text


def fast_copy(renderer: EditionRenderer, who: Recipient) -> tuple[str, str] | None:
    variant = renderer.variant(who.sections)
    if variant is None:
        return None
    values = values_for(who)
    return variant.html.fill(values), variant.text.fill(values)


def rate(label: str, count: int, seconds: float) -> float:
    per_second = count / seconds
    print(f"  {label:<44} {per_second:10,.0f} copies/s  {seconds / count * 1e6:9.1f} µs each")
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50_000)
    parser.add_argument("--naive", type=int, default=300)
    parser.add_argument("--stream", type=int, default=100_000)
    args = parser.parse_args()

    snap = snapshot()  # 5 sections x 5 articles, 3 related links each
    templates = TemplateSet()
    templates.check()
    renderer = EditionRenderer(
        templates, snap, RenderOptions(base_url="https://news.example.com"), values_for(LONGEST)
    )
    print(f"edition: 5 sections x 5 articles with related links; links by {type(LINKS).__name__}")
    everyone = list(recipients(args.copies))
    started = time.perf_counter()
    for who in everyone:
        renderer.variant(who.sections)
    compile_seconds = time.perf_counter() - started
    print(f"  compiled {renderer.compiled} variants once: {compile_seconds * 1e3:.0f} ms in all")

    started = time.perf_counter()
    sizes = 0
    for who in everyone:
        copy = fast_copy(renderer, who)
        sizes += len(copy[0]) if copy else 0
    fast = rate(
        "compile once per variant, fill per subscriber",
        len(everyone),
        time.perf_counter() - started,
    )
    print(f"  mean HTML per copy: {sizes / len(everyone) / 1024:.1f} KiB")

    sample = everyone[: args.naive]
    started = time.perf_counter()
    for who in sample:
        naive_copy(templates, snap, who)
    naive = rate(
        "naive: Jinja + MJML compile per subscriber", len(sample), time.perf_counter() - started
    )
    print(f"  ratio: {fast / naive:,.0f}x faster than the naive path")

    maker = CopyMaker(renderer, LINKS)
    sample = everyone[:10_000]
    started = time.perf_counter()
    for who in sample:
        maker.make(who)
    rate("whole copies: HTML, text and MIME message", len(sample), time.perf_counter() - started)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    written = 0
    for who in recipients(args.stream, seed=11):
        whole = maker.make(who)
        written += len(whole.message) if whole else 0
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  streamed {args.stream:,} subscribers in {seconds:.1f} s "
        f"({written / 2**30:.2f} GiB of MIME messages produced and let go); "
        f"peak RSS {peak:.0f} MiB (was {before:.0f} MiB before streaming)"
    )


if __name__ == "__main__":
    main()
