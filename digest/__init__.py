"""digest: a newsletter digest generator.

The package reads as the pipeline: ``sources`` bring articles in, ``store`` keeps them,
``ingest`` joins the two, and ``cli`` is the one place that builds them from the settings.
"""

__version__ = "0.1.0"
