"""Building each subscriber's MIME message: ``MessageBuilder.build`` against the stdlib path.

Compiles a realistic digest once with mjml-python (5 sections of article cards with inline
styles, French and German text, smart quotes and dashes: ~90 KB of HTML, nearly all of it on
one line, as MJML emits it) and writes a ~8 KB plain-text twin. Both carry placeholders for
the personal fields (greeting, e-mail address, view-online, preferences and signed
unsubscribe links), split out once, as ``digest.render.personal`` does; each subscriber's
copy is a ``str.join``. With ``--variants K`` the cards are shuffled into K different
digests (as subscribers with different sections get) and subscribers take turns among them.

Prints messages/s and µs per message for (a) ``MessageBuilder.build`` over N distinct
subscribers (the time of ``build`` alone, and with filling in the personal fields), (b) the
naive stdlib path, ``EmailMessage`` with ``set_content``/``add_alternative`` and
``as_bytes(policy=SMTP)``, on a sample, and their ratio; then what one HTML body costs to
encode: ``binascii.b2a_qp`` over the whole body, base64 with 76-column lines, and the
builder's segment-cached quoted-printable, with the encoded sizes.

    .venv/bin/python benchmarks/message_build.py [-n 5000] [--stdlib-sample 200] [--variants 1]
"""

from __future__ import annotations

import argparse
import binascii
import email
import email.policy
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage

import mjml

from digest.render.message import (
    EditionHeaders,
    MessageBuilder,
    PersonalHeaders,
    list_id,
    make_message_id,
)

DOMAIN = "meridian.example"
EDITION = "3f2a9c41d07e"
FIELDS = ("greeting", "email", "view_url", "preferences_url", "unsubscribe_url")
PLACEHOLDER = re.compile(r"%%(" + "|".join(FIELDS) + r")%%")
SECTIONS = ("Monde", "Économie", "Culture", "Wissenschaft", "Sport")
WORDS = (
    "le conseil municipal a adopté mardi un budget révisé après des mois de négociations "
    "die Forschungsgruppe veröffentlichte ihre Ergebnisse über Gletscher in Graubünden "
    "the committee’s report finds the city’s transit plan will fall short by €1.2bn "
    "naïve café déjà vu señor Straße über Ångström façade rôle coöperate — “quoted” ‘single’"
).split()

CARD = """<mj-section padding="0 0 12px" background-color="#f4f1ea">
<mj-column background-color="#ffffff" padding="18px 24px" border-radius="4px">
<mj-text font-family="Georgia, 'Times New Roman', serif" font-size="12px" color="#8a1c1c"
 text-transform="uppercase" letter-spacing="1px" padding="0 0 6px">{section} · {kicker}</mj-text>
<mj-text font-family="Georgia, 'Times New Roman', serif" font-size="21px" line-height="1.3"
 color="#111111" padding="0 0 8px"><a href="https://{domain}/{slug}?utm_source=digest&amp;utm_medium=email&amp;utm_campaign={edition}"
 style="color:#111111;text-decoration:none;">{title}</a></mj-text>
<mj-text font-family="Helvetica, Arial, sans-serif" font-size="15px" line-height="1.55"
 color="#333333" padding="0 0 10px">{summary}</mj-text>
<mj-text font-family="Helvetica, Arial, sans-serif" font-size="13px" color="#666666"
 padding="0">{byline} · {minutes} min · Related: <a href="https://{domain}/r/{slug}-a"
 style="color:#0b3d91;">{related_a}</a> · <a href="https://{domain}/r/{slug}-b"
 style="color:#0b3d91;">{related_b}</a></mj-text>
</mj-column></mj-section>"""

FRAME = """<mjml><mj-head><mj-title>The Meridian Daily</mj-title>
<mj-preview>Today: {preview}</mj-preview>
<mj-attributes><mj-all font-family="Helvetica, Arial, sans-serif" /></mj-attributes>
<mj-style>.footer a {{ color: #666666; }}
@media (max-width: 480px) {{ .card h2 {{ font-size: 19px; }} }}</mj-style>
</mj-head><mj-body background-color="#f4f1ea" width="600px">
<mj-section padding="8px 0"><mj-column><mj-text align="right" font-size="11px" color="#888888">
<a href="%%view_url%%" style="color:#888888;">View this edition online</a>
</mj-text></mj-column></mj-section>
<mj-section background-color="#111111" padding="20px 24px"><mj-column>
<mj-text font-family="Georgia, serif" font-size="30px" color="#ffffff">The Meridian Daily</mj-text>
<mj-text color="#dddddd" font-size="14px">
%%greeting%%, here is your digest for Tuesday 4 March.</mj-text>
</mj-column></mj-section>
{cards}
<mj-section padding="24px"><mj-column>
<mj-text css-class="footer" font-size="12px" color="#666666" line-height="1.6">
You receive this at %%email%% because you subscribed to The Meridian Daily.
<a href="%%preferences_url%%">Choose your sections</a> ·
<a href="%%unsubscribe_url%%">Unsubscribe</a>
</mj-text></mj-column></mj-section></mj-body></mjml>"""


def sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:]


def articles(rng: random.Random, per_section: int) -> list[dict[str, str]]:
    cards = []
    for section in SECTIONS:
        for number in range(per_section):
            cards.append(
                {
                    "section": section,
                    "kicker": sentence(rng, 2),
                    "slug": f"{section.lower()}/2025/03/{number}-{rng.randrange(10**6)}",
                    "title": sentence(rng, rng.randint(8, 14)),
                    "summary": sentence(rng, rng.randint(45, 70)) + ".",
                    "byline": f"Par {sentence(rng, 2)}",
                    "minutes": str(rng.randint(3, 12)),
                    "related_a": sentence(rng, 5),
                    "related_b": sentence(rng, 4),
                }
            )
    return cards


def html_template(cards: Sequence[dict[str, str]]) -> str:
    body = "\n".join(CARD.format(domain=DOMAIN, edition=EDITION, **card) for card in cards)
    return mjml.mjml2html(FRAME.format(preview=cards[0]["title"], cards=body))


def text_template(cards: Sequence[dict[str, str]]) -> str:
    lines = ["THE MERIDIAN DAILY", "", "%%greeting%%, here is your digest for Tuesday 4 March."]
    lines += ["View online: %%view_url%%", ""]
    for card in cards:
        lines += [f"{card['section'].upper()} · {card['title']}", card["summary"][:160] + "…"]
        lines += [f"https://{DOMAIN}/{card['slug']}", ""]
    lines += ["--", "You receive this at %%email%%.", "Sections: %%preferences_url%%"]
    lines += ["Unsubscribe: %%unsubscribe_url%%", ""]
    return "\n".join(lines)


def personal_values(number: int) -> dict[str, str]:
    token = f"s{number}.{(number * 2654435761) % 2**32:08x}{number * 7919:06x}"
    return {
        "greeting": f"Bonjour Zoë {number}",
        "email": f"reader{number}@example.org",
        "view_url": f"https://{DOMAIN}/e/{EDITION}?s={token}",
        "preferences_url": f"https://{DOMAIN}/p/{token}",
        "unsubscribe_url": f"https://{DOMAIN}/u/{token}",
    }


def fill(parts: Sequence[str], values: dict[str, str]) -> str:
    """The compiled copy with one subscriber's values: odd parts are field names."""
    return "".join(values[part] if index % 2 else part for index, part in enumerate(parts))


def personal_headers(number: int, values: dict[str, str]) -> PersonalHeaders:
    return PersonalHeaders(
        to_name=f"Zoë Ó'Brien {number}",
        to_address=values["email"],
        message_id=make_message_id(EDITION, f"s{number}", DOMAIN),
        unsubscribe_url=values["unsubscribe_url"],
        unsubscribe_mailto=f"mailto:unsubscribe@{DOMAIN}?subject=unsubscribe%20s{number}",
        date=datetime(2025, 3, 4, 7, 0, tzinfo=UTC) + timedelta(seconds=number),
    )


EDITION_HEADERS = EditionHeaders(
    from_name="The Meridian — Daily",
    from_address=f"daily@{DOMAIN}",
    reply_to=f"editors@{DOMAIN}",
    subject="Élection : les résultats région par région, et la “surprise” de Zürich",
    list_id=list_id("The Meridian Daily", "daily", DOMAIN),
    feedback_id=f"daily:{EDITION}:digest",
    sender_domain=DOMAIN,
)


def stdlib_message(personal: PersonalHeaders, html: str, text: str) -> bytes:
    """The naive path: the stdlib builds and serialises the same message."""
    message = EmailMessage()
    headers = EDITION_HEADERS
    message["From"] = Address(headers.from_name, addr_spec=headers.from_address)
    message["Reply-To"] = headers.reply_to
    message["To"] = Address(personal.to_name or "", addr_spec=personal.to_address)
    message["Subject"] = headers.subject
    message["Date"] = personal.date
    message["Message-ID"] = f"<{personal.message_id}>"
    message["List-Id"] = headers.list_id
    message["List-Unsubscribe"] = f"<{personal.unsubscribe_url}>, <{personal.unsubscribe_mailto}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Feedback-ID"] = headers.feedback_id
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message.as_bytes(policy=email.policy.SMTP)


def timed(
    count: int,
    variants: Sequence[tuple[list[str], list[str]]],
    build: Callable[[PersonalHeaders, str, str], bytes],
) -> tuple[float, float, int]:
    """Seconds in build alone, seconds including filling in, total bytes, over count messages."""
    in_build = total = 0.0
    size = 0
    for number in range(count):
        html_parts, text_parts = variants[number % len(variants)]
        start = time.perf_counter()
        values = personal_values(number)
        personal = personal_headers(number, values)
        html, text = fill(html_parts, values), fill(text_parts, values)
        built = time.perf_counter()
        size += len(build(personal, html, text))
        end = time.perf_counter()
        in_build += end - built
        total += end - start
    return in_build, total, size


def check_same(variants: Sequence[tuple[list[str], list[str]]]) -> None:
    """Both paths parse back to the same bodies and headers (a sanity check, not a test)."""
    values = personal_values(7)
    personal = personal_headers(7, values)
    html, text = fill(variants[0][0], values), fill(variants[0][1], values)
    ours = email.message_from_bytes(
        MessageBuilder(EDITION_HEADERS).build(personal, html, text), policy=email.policy.default
    )
    theirs = email.message_from_bytes(
        stdlib_message(personal, html, text), policy=email.policy.default
    )
    for kind, sent in (("html", html), ("plain", text)):
        for message in (ours, theirs):  # the stdlib adds a final newline where there is none
            part = message.get_body((kind,))
            assert part is not None
            assert part.get_content().replace("\r\n", "\n").rstrip("\n") == sent.rstrip("\n")
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
        assert str(ours[name]) == str(theirs[name]), name


def encoders(html_parts: list[str], repeat: int) -> None:
    """One subscriber's HTML body through each candidate encoding: median µs and size."""
    cached = MessageBuilder(EDITION_HEADERS)._html  # the builder's (private) encoder

    def cached_qp(body: str) -> bytes:
        return b"".join(cached.pieces(body))

    def full_qp(body: str) -> bytes:
        return binascii.b2a_qp(body.encode()).replace(b"\n", b"\r\n")

    def base64_76(body: str) -> bytes:
        data = binascii.b2a_base64(body.encode(), newline=False)
        return b"\r\n".join([data[i : i + 76] for i in range(0, len(data), 76)])

    html = fill(html_parts, personal_values(0))
    print(f"\none HTML body ({len(html.encode()):,} bytes UTF-8), median of {repeat} runs:")
    candidates: dict[str, Callable[[str], bytes]] = {
        "b2a_qp over the whole body": full_qp,
        "base64, 76-column lines": base64_76,
        "quoted-printable, segment cache": cached_qp,
    }
    for name, encode in candidates.items():
        encode(html)
        samples = []
        for run in range(1, repeat + 1):
            body = fill(html_parts, personal_values(run))
            start = time.perf_counter()
            encode(body)
            samples.append(time.perf_counter() - start)
        median = statistics.median(samples) * 1e6
        print(f"  {name:34s} {median:8.1f} µs  {len(encode(html)):>9,} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=5000)
    parser.add_argument("--stdlib-sample", type=int, default=200)
    parser.add_argument("--variants", type=int, default=1)
    parser.add_argument("--per-section", type=int, default=5, help="article cards per section")
    args = parser.parse_args()

    rng = random.Random(20250304)
    cards = articles(rng, args.per_section)
    variants: list[tuple[list[str], list[str]]] = []
    for _ in range(args.variants):
        chosen = cards if not variants else rng.sample(cards, len(cards) - rng.randint(1, 5))
        html_parts = PLACEHOLDER.split(html_template(chosen))
        text_parts = PLACEHOLDER.split(text_template(chosen))
        variants.append((html_parts, text_parts))
    sample_html = fill(variants[0][0], personal_values(0))
    sample_text = fill(variants[0][1], personal_values(0))
    print(
        f"digest: {len(sample_html.encode()):,} bytes of HTML, {len(sample_text.encode()):,} "
        f"of text; {args.variants} variant(s); {args.messages:,} subscribers"
    )
    check_same(variants)

    builder = MessageBuilder(EDITION_HEADERS)
    in_build, total, size = timed(args.messages, variants, builder.build)
    ours = in_build / args.messages
    print(
        f"(a) MessageBuilder.build   {1 / ours:9,.0f} messages/s  {ours * 1e6:8.1f} µs/message"
        f"  (with filling in: {total / args.messages * 1e6:.1f} µs;"
        f" {size / args.messages / 1024:.1f} KiB/message)"
    )
    in_stdlib, _, size = timed(args.stdlib_sample, variants, stdlib_message)
    theirs = in_stdlib / args.stdlib_sample
    print(
        f"(b) stdlib EmailMessage    {1 / theirs:9,.0f} messages/s  {theirs * 1e6:8.1f} µs/message"
        f"  (sample of {args.stdlib_sample}; {size / args.stdlib_sample / 1024:.1f} KiB/message)"
    )
    print(f"    ratio: the builder is {theirs / ours:.1f}x faster")
    encoders(variants[0][0], repeat=400)


if __name__ == "__main__":
    main()
