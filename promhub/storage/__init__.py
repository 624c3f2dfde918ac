"""promhub.storage: the Appender/Querier seam (and later fanout, remote write/read)."""

from promhub.storage.interface import (
    Appendable,
    Appender,
    AppendResult,
    DuplicateSampleError,
    Metadata,
    OutOfOrderSampleError,
    Querier,
    Queryable,
    Series,
    StorageError,
    StorageFullError,
    TooOldSampleError,
)

__all__ = [
    "AppendResult",
    "Appendable",
    "Appender",
    "DuplicateSampleError",
    "Metadata",
    "OutOfOrderSampleError",
    "Querier",
    "Queryable",
    "Series",
    "StorageError",
    "StorageFullError",
    "TooOldSampleError",
]
