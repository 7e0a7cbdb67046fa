"""What ops watch: structured logs, alerts and Prometheus metrics. Logs write to stderr; the
metrics read the store only when scraped."""

from digest.observe.logs import address_hash, alert, configure_logging

__all__ = ["address_hash", "alert", "configure_logging"]
