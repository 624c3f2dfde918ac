"""Why a scrape failed: the reasons Prometheus names, as exception types.

``str()`` of each is the message shown as the target's last error on the targets page.
"""

from __future__ import annotations


class ScrapeError(Exception):
    """A scrape failed; nothing of it was stored but the synthetic ``up``/``scrape_*`` series."""


class FetchError(ScrapeError):
    """The HTTP request failed: connection, timeout, TLS, or a non-200 status."""


class BodySizeLimitError(FetchError):
    """The (uncompressed) body grew past ``body_size_limit`` while it was read."""


class SampleLimitError(ScrapeError):
    """More samples than ``sample_limit`` survived metric relabeling."""


class LabelLimitError(ScrapeError):
    """A series broke ``label_limit`` or a label name/value length limit."""


class InvalidSeriesError(ScrapeError):
    """A series has no metric name or an invalid label name after relabeling."""
