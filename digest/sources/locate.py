"""Reading sources from disk: files, gzip files and folders walked. I/O.

A folder is walked in name order, skipping hidden entries, and yields only files whose
extension names a format digest reads; a file named explicitly is always tried. Gzip files
are decompressed with the same size cap as a download, so a small bomb cannot fill memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from digest.errors import SourceError
from digest.sources.base import RawDocument
from digest.sources.detect import EXTENSIONS

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Located:
    """A file to read; ``explicit`` when the user named it rather than its folder."""

    path: Path
    explicit: bool


def expand(source: str) -> Iterator[Located]:
    """The files a path names: itself, or the readable files under a folder."""
    path = Path(source)
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            relative = child.relative_to(path)
            if any(part.startswith(".") for part in relative.parts):
                continue
            if child.is_file() and _readable_suffix(child):
                yield Located(child, explicit=False)
    elif path.is_file():
        yield Located(path, explicit=True)
    elif path.exists():
        raise SourceError(source, "is neither a file nor a folder")
    else:
        raise SourceError(source, "no such file or folder; check the path")


def _readable_suffix(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in EXTENSIONS


def read_document(path: Path, max_bytes: int) -> RawDocument:
    """A file's bytes, decompressed when gzip, refused when larger than ``max_bytes``."""
    origin = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(origin, _too_large(max_bytes))
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(origin, f"cannot read it: {exc.strerror}") from exc
    if data.startswith(GZIP_MAGIC):
        data = gunzip(data, max_bytes, origin)
    return RawDocument(origin=origin, data=data)


def gunzip(data: bytes, max_bytes: int, origin: str) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise SourceError(origin, f"is not a valid gzip file: {exc}") from exc
    if len(out) > max_bytes or decompressor.unconsumed_tail:
        raise SourceError(origin, _too_large(max_bytes, "once decompressed"))
    return out


def _too_large(max_bytes: int, when: str = "") -> str:
    where = f" {when}" if when else ""
    return f"is larger than {max_bytes:,} bytes{where}; raise DIGEST_FETCH_MAX_BYTES to read it"
