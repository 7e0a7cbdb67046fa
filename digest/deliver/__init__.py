"""Delivering messages through a provider: the outbox (embedded default), SMTP and email APIs.

I/O. Every provider takes ready messages and reports, per message, what happened.
"""
