"""The ``digest`` command line: the edge where settings become parts and errors become exits.

Each command lives in its own module and registers itself on the group in ``app``, which
imports a command's module only when that command runs (``app.COMMAND_MODULES``).
"""

from digest.cli.app import cli, main

__all__ = ["cli", "main"]
