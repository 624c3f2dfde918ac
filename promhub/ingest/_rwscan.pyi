"""Type stub of the C extension built from _rwscan.c (see that file for the contract)."""

def scan(
    data: bytes | bytearray | memoryview, cache: dict[bytes, int] | None, /
) -> tuple[
    bytes,
    list[tuple[int, bytes]],
    bytes,
    bytes,
    bytes,
    list[tuple[int, int, int]],
    list[tuple[int, int, int]],
    list[tuple[int, int]],
]: ...
def decode_labels(key: bytes, /) -> list[tuple[str, str]]: ...
