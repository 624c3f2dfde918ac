"""Scraping: targets from discovery, scraped on schedule into an Appendable.

The public API is :class:`ScrapeManager` (``apply_config``, ``update_targets``, ``run``,
``stop``, ``targets``, ``metadata``); pools, loops and the HTTP client are its parts.
"""

from promhub.scrape.errors import (
    BodySizeLimitError,
    FetchError,
    InvalidSeriesError,
    LabelLimitError,
    SampleLimitError,
    ScrapeError,
)
from promhub.scrape.manager import ScrapeManager, TargetMetadata
from promhub.scrape.target import Health, Target

__all__ = [
    "BodySizeLimitError",
    "FetchError",
    "Health",
    "InvalidSeriesError",
    "LabelLimitError",
    "SampleLimitError",
    "ScrapeError",
    "ScrapeManager",
    "Target",
    "TargetMetadata",
]
