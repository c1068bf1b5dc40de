"""Base36 text for integers, the alphabet Docker uses for node IDs and join tokens."""

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_VALUES = {c: i for i, c in enumerate(ALPHABET)}


def encode(data: bytes, width: int) -> str:
    """Big-endian bytes as lowercase base36, left-padded with '0' to `width` characters."""
    n = int.from_bytes(data, "big")
    digits = []
    while n:
        n, r = divmod(n, 36)
        digits.append(ALPHABET[r])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise ValueError(f"{len(data)} bytes do not fit in {width} base36 characters")
    return text.rjust(width, "0")


def decode(text: str, size: int) -> bytes:
    """Lowercase base36 text back to `size` big-endian bytes; ValueError if it is not that."""
    n = 0
    for c in text:
        v = _VALUES.get(c)
        if v is None:
            raise ValueError(f"{c!r} is not a lowercase base36 digit")
        n = n * 36 + v
    if n.bit_length() > size * 8:
        raise ValueError(f"value does not fit in {size} bytes")
    return n.to_bytes(size, "big")
