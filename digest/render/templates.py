"""The editors' templates, loaded and checked once at start-up. Reads template files.

Templates come from ``DIGEST_TEMPLATES_DIR`` when set, file by file, and otherwise from the
defaults installed with digest (the repository's ``templates/`` folder, packaged as
``digest_templates``). ``TemplateSet.check`` compiles every one of them, so a broken
template stops the program at start-up with its file, line and message instead of failing
at send time.

Two kinds of template, two environments:

- files (``.mjml``, ``.html`` autoescaped; ``.txt`` not), with ``StrictUndefined`` so a
  misspelt variable is an error, not an empty string; the emails live in ``email/``, the
  subscriber web pages (``page``) and their stylesheet (``asset``) in ``web/``;
- subject and preheader patterns, which editors type into the newsletters file: rendered
  in Jinja's sandbox, one line each. Article text only ever reaches a template as a value,
  never as template source, so ``{{ 7*7 }}`` in a title stays those seven characters.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

from digest.errors import ConfigError

TEMPLATE_SUFFIXES = (".mjml", ".txt", ".html")
REQUIRED = ("email/digest.mjml", "email/digest.txt", "email/confirm.mjml", "email/confirm.txt")
WEB_FOLDER = "web"


def default_folder() -> Path:
    """The templates installed with digest."""
    return Path(str(resources.files("digest_templates")))


def wrap(text: str, width: int = 72, indent: str = "") -> str:
    """A paragraph wrapped for the plain-text part (a Jinja filter)."""
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent)


class TemplateSet:
    def __init__(self, override: Path | None = None) -> None:
        if override is not None and not override.is_dir():
            raise ConfigError(
                f"setting DIGEST_TEMPLATES_DIR: {override} is not a folder; "
                "point it at a folder of templates or leave it empty for the defaults"
            )
        folders = [override] if override is not None else []
        folders.append(default_folder())
        self.folders = tuple(folders)
        self.files = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(folder)) for folder in folders]),
            autoescape=select_autoescape(
                enabled_extensions=("mjml", "html", "htm", "xml"), default_for_string=False
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.files.filters["wrap"] = wrap
        self.patterns = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

    def names(self) -> list[str]:
        return [n for n in self.files.list_templates() if n.endswith(TEMPLATE_SUFFIXES)]

    def check(self) -> None:
        """Compile every template; the first broken one raises with its file and line."""
        names = self.names()
        missing = [name for name in REQUIRED if name not in names]
        if missing:
            raise ConfigError(
                f"templates missing: {', '.join(missing)} (looked in "
                f"{', '.join(str(f) for f in self.folders)}); restore them or unset "
                "DIGEST_TEMPLATES_DIR"
            )
        for name in names:
            try:
                self.files.get_template(name)
            except TemplateSyntaxError as exc:
                raise ConfigError(
                    f"{exc.filename or name}, line {exc.lineno}: template error: {exc.message}; "
                    "fix the template"
                ) from exc

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self.files.get_template(name).render(context)
        except TemplateError as exc:
            raise ConfigError(f"template {name}: {exc}; fix the template") from exc

    def page(self, name: str, context: Mapping[str, Any]) -> str:
        """A web page (``web/NAME``), HTML-escaped like every ``.html`` template."""
        return self.render(f"{WEB_FOLDER}/{name}", context)

    def asset(self, name: str) -> str:
        """A web page's static file (``web/NAME``, e.g. its stylesheet) as it is, unrendered."""
        loader = self.files.loader
        assert loader is not None  # set in __init__
        try:
            return loader.get_source(self.files, f"{WEB_FOLDER}/{name}")[0]
        except TemplateError as exc:
            raise ConfigError(f"template {WEB_FOLDER}/{name}: {exc}; restore the file") from exc

    def pattern(self, source: str, context: Mapping[str, Any], what: str) -> str:
        """A subject or preheader pattern, rendered in the sandbox, as one line."""
        try:
            rendered = self.patterns.from_string(source).render(context)
        except TemplateError as exc:
            raise ConfigError(f"the newsletter's {what} pattern {source!r}: {exc}") from exc
        return " ".join(rendered.split())
