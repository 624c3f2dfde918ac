"""Sample values and the staleness marker."""

from __future__ import annotations

import struct

import numpy as np
from numpy.typing import NDArray

#: Prometheus' staleness marker: a NaN with this exact bit pattern.
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]

Timestamps = NDArray[np.int64]
Values = NDArray[np.float64]


def is_stale(v: float) -> bool:
    return struct.pack("<d", v) == struct.pack("<Q", STALE_NAN_BITS)


def stale_mask(values: Values) -> NDArray[np.bool_]:
    """Vectorised :func:`is_stale` (a plain NaN is not a staleness marker)."""
    mask: NDArray[np.bool_] = values.view(np.uint64) == np.uint64(STALE_NAN_BITS)
    return mask
