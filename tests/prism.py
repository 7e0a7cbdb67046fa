"""Prism, the contract-validating mock server, run as a subprocess for the provider tests.

``prism mock --errors CONTRACT`` answers every request the way the provider's own OpenAPI
description says it would, and reports any request that breaks the contract in an
``sl-violations`` response header (see ``../shared/contracts/README.md``). Prism comes from
the project's ``package.json`` (``make test`` runs ``npm ci``); without it, or without the
contracts beside the repository, the tests skip and say which path is missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRISM = REPO / "node_modules" / ".bin" / "prism"
CONTRACTS = Path(os.environ.get("DIGEST_TEST_CONTRACTS") or REPO.parent / "shared" / "contracts")
READY = "Prism is listening"
START_TIMEOUT = 20.0


def contract(*parts: str) -> Path:
    """A contract file, skipping the test with the path when it is absent."""
    path = CONTRACTS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the providers' contracts sit in ../shared/contracts")
    return path


@dataclass
class Prism:
    """A running ``prism mock``; ``url`` is its base URL."""

    process: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.reader is not None:
            self.reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_prism(path: Path) -> Prism:
    """Start Prism on a free port with ``path`` and wait for it to listen (~1-2 s)."""
    if not PRISM.exists():
        pytest.skip(f"{PRISM} is absent: run `npm ci` (make test does) to install Prism")
    port = free_port()
    process = subprocess.Popen(
        [str(PRISM), "mock", "--host", "127.0.0.1", "--port", str(port), "--errors", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    prism = Prism(process, f"http://127.0.0.1:{port}")
    ready = threading.Event()

    def drain() -> None:  # reads until Prism exits, so its pipe never fills up
        assert process.stdout is not None
        for line in process.stdout:
            prism.output.append(line.rstrip())
            if READY in line:
                ready.set()

    prism.reader = threading.Thread(target=drain, daemon=True)
    prism.reader.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            prism.stop()
            tail = "\n".join(prism.output[-20:])
            raise RuntimeError(f"Prism did not start with {path}:\n{tail}")
    return prism


def prism_fixture(*parts: str) -> Callable[[], Iterator[Prism]]:
    """A module-scoped fixture serving one contract: ``postmark = prism_fixture(...)``."""

    @pytest.fixture(scope="module")
    def serve() -> Iterator[Prism]:
        prism = start_prism(contract(*parts))
        try:
            yield prism
        finally:
            prism.stop()

    return serve
