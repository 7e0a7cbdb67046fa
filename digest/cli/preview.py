"""``digest preview``: an edition exactly as one subscriber will get it, written to files."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from digest.cli.app import cli, print_json, settings_of
from digest.errors import PlanningError
from digest.render.copies import Copy, CopyMaker
from digest.render.lint import lint
from digest.render.personal import Recipient
from digest.render.variants import GMAIL_CLIP_BYTES
from digest.store.editions import Edition, RenderRecord
from digest.wiring import Parts, build

SAMPLE = Recipient(id="0", email="reader@example.org", name="Sample Reader")
"""A reader who is nobody: id 0 belongs to no subscriber, so its links change nothing."""


@cli.command()
@click.argument("newsletter")
@click.option("--edition", "edition_id", metavar="ID", help="An edition id (default: the latest).")
@click.option("--subscriber", metavar="EMAIL", help="Render for this address (default: a sample).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for digest.html, digest.txt and message.eml (default: DATA_DIR/preview/ID).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def preview(
    ctx: click.Context,
    newsletter: str,
    edition_id: str | None,
    subscriber: str | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Render an edition for one subscriber: HTML, plain text and the full message.

    Without --edition, the newsletter's latest edition (planned now if there is none).
    The HTML is measured against Gmail's clip line and linted against email-client
    support data; what the size guard trimmed is recorded on the edition.

    \b
    Example:
      digest preview daily
      digest preview daily --subscriber ana@example.org --out /tmp/preview --json
    """
    settings = settings_of(ctx)
    with build(settings) as parts:
        declared = parts.newsletters().get(newsletter)
        edition = _edition(parts, declared.name, edition_id)
        folder = out or settings.data_dir / "preview" / edition.id
        result, copy = write_preview(
            parts, edition, _recipient(parts, declared.name, subscriber), folder
        )
    if as_json:
        print_json(result)
    else:
        print_preview(result, copy, settings.html_budget_bytes)


NO_LINT_DATA = {
    "errors": [],
    "warnings": [],
    "skipped": "no caniemail data on this machine; set DIGEST_CANIEMAIL_DIR",
}


def write_preview(
    parts: Parts, edition: Edition, recipient: Recipient, folder: Path
) -> tuple[dict[str, Any], Copy]:
    """Render, lint, record and write one subscriber's copy; the preview's JSON and the copy."""
    renderer = parts.renderer(parts.templates(), edition.snapshot)
    copy = CopyMaker(renderer, parts.links(renderer.snapshot)).make(recipient)
    if copy is None:
        raise PlanningError(f"edition {edition.id} has none of {recipient.email}'s sections")
    support = parts.lint_support()
    report: dict[str, Any] = lint(copy.html, support).as_json() if support else dict(NO_LINT_DATA)
    parts.editions.record_render(edition.id, _record(copy, report))
    return _write(folder, copy, report), copy


def _edition(parts: Parts, newsletter: str, edition_id: str | None) -> Edition:
    if edition_id:
        edition = parts.editions.get_by_id(edition_id)
        if edition is None or edition.newsletter != newsletter:
            raise PlanningError(
                f"no edition {edition_id} of {newsletter}; `digest plan {newsletter} --json` "
                "prints the edition ids"
            )
    else:
        edition = parts.editions.latest(newsletter) or parts.planner(parts.newsletters()).plan(
            newsletter
        )
    if edition.empty:
        raise PlanningError(
            f"edition {edition.id} of {newsletter} ({edition.slot.isoformat()}) is empty: "
            "it has no article and is not sent, so there is nothing to preview"
        )
    return edition


def _recipient(parts: Parts, newsletter: str, email: str | None) -> Recipient:
    """The named subscriber with their name and sections, or the sample reader."""
    if email is None:
        return SAMPLE
    try:
        found = parts.subscribers.find(email)
    except ValueError as exc:
        raise click.BadParameter(f"{email!r}: {exc}", param_hint="--subscriber") from None
    if found is None:
        raise click.BadParameter(
            f"no subscriber {email}; add one with `digest subscribers add {email}`",
            param_hint="--subscriber",
        )
    subscription = parts.subscribers.subscription(found.id, newsletter)
    sections = subscription.sections if subscription else None
    return Recipient(id=str(found.id), email=found.email, name=found.name, sections=sections)


def _record(copy: Copy, lint_report: dict[str, Any]) -> RenderRecord:
    return RenderRecord(
        variant=copy.variant.sections,
        html_bytes=copy.variant.html_bytes,
        text_bytes=len(copy.text.encode()),
        trimmed=copy.variant.trimmed,
        lint=lint_report,
        rendered_at=datetime.now(UTC),
    )


def _write(folder: Path, copy: Copy, lint_report: dict[str, Any]) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "html": folder / "digest.html",
        "text": folder / "digest.txt",
        "eml": folder / "message.eml",
    }
    files["html"].write_text(copy.html, encoding="utf-8")
    files["text"].write_text(copy.text, encoding="utf-8")
    files["eml"].write_bytes(copy.message)
    return {
        "html_bytes": len(copy.html.encode()),
        "text_bytes": len(copy.text.encode()),
        "trimmed": list(copy.variant.trimmed),
        "lint": lint_report,
        "files": {kind: str(path.resolve()) for kind, path in files.items()},
    }


def print_preview(result: dict[str, Any], copy: Copy, budget: int) -> None:
    click.echo(f"Subject: {copy.variant.subject}")
    click.echo(f"Preheader: {copy.variant.preheader}")
    click.echo(
        f"HTML {result['html_bytes']:,} bytes (budget {budget:,}; Gmail clips past "
        f"{GMAIL_CLIP_BYTES:,}), text {result['text_bytes']:,} bytes"
    )
    for step in result["trimmed"]:
        click.echo(f"trimmed: {step}")
    lint_report = result["lint"]
    if "skipped" in lint_report:
        click.echo(f"lint: skipped ({lint_report['skipped']})")
    else:
        errors, warnings = len(lint_report["errors"]), len(lint_report["warnings"])
        click.echo(f"lint: {errors} error(s), {warnings} warning(s)")
        for finding in lint_report["errors"]:
            click.echo(f"  error: {finding['title']} in {finding['client']} {finding['platform']}")
        by_feature = Counter(f["title"] for f in lint_report["warnings"])
        if by_feature:
            summary = ", ".join(f"{title} ({n})" for title, n in by_feature.most_common(8))
            click.echo(f"  warnings by feature: {summary}")
    for kind, path in result["files"].items():
        click.echo(f"{kind}: {path}")
