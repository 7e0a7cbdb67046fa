"""Rendering an edition into each subscriber's email.

Computes only: templates are read once at start-up (``templates``), and everything after
that turns a frozen edition snapshot into strings and bytes. ``variants`` compiles each
set of sections once and keeps it under Gmail's clip line; ``personal`` fills each
subscriber's own values in cheaply; ``message`` builds the MIME message; ``lint`` checks the
HTML against what email clients support.
"""
