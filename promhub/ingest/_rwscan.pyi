"""Type stub of the C extension built from _rwscan.c (see that file for the contract)."""

_Scan = tuple[
    bytes,
    list[tuple[int, bytes]],
    bytes,
    bytes,
    bytes,
    list[tuple[int, int, int]],
    list[tuple[int, int, int]],
    list[tuple[int, int, int]],
]
_ScanV2 = tuple[
    bytes,
    list[tuple[int, bytes]],
    bytes,
    bytes,
    bytes,
    list[tuple[int, int, int]],
    list[tuple[int, int, int]],
    list[tuple[int, int, int]],
    bytes,
    bytes,
]

def scan(data: bytes | bytearray | memoryview, cache: dict[bytes, int] | None, /) -> _Scan: ...
def scan_v2(data: bytes | bytearray | memoryview, cache: dict[bytes, int] | None, /) -> _ScanV2: ...
def decode_labels(key: bytes, /) -> list[tuple[str, str]]: ...
