"""Flag value types with Docker's parsing rules and error texts (Go durations, byte sizes, CPUs).

Each is an argparse `type=`: it raises ArgumentTypeError so that the parser prints
`invalid argument "v" for "--flag" flag: REASON` and exits 125, as pflag does.
"""

from __future__ import annotations

import argparse
import re
from decimal import Decimal, InvalidOperation

from swarmlet.cli.parser import bad_value


def _type(name: str, fn):
    """Wrap `fn(str) -> value` (raising ValueError(reason)) as an argparse type."""

    def convert(text: str):
        try:
            return fn(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(bad_value(text, str(exc))) from None

    convert.__name__ = name
    return convert


# ---- pure parsers (ValueError with Docker's reason) -------------------------------------

_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)?")


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    s = text
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total = Decimal(0)
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise ValueError(f'time: invalid duration "{text}"')
        if m.group(2) is None:
            raise ValueError(f'time: missing unit in duration "{text}"')
        total += Decimal(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * int(total)


def format_duration(ns: int) -> str:
    """Go's Duration.String (1m30s, 500ms, 0s)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(Decimal(ns) / size) + unit
    h, rest = divmod(ns, 3_600_000_000_000)
    m, rest = divmod(rest, 60_000_000_000)
    secs = _trim(Decimal(rest) / 1_000_000_000) + "s"
    if h:
        return f"{sign}{h}h{m}m{secs}"
    if m:
        return f"{sign}{m}m{secs}"
    return sign + secs


def _trim(d: Decimal) -> str:
    text = format(d.normalize(), "f")
    return text


_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")


def parse_bytes(text: str) -> int:
    """docker/go-units RAMInBytes: binary multiples, `512M`, `1g`, `1.5GiB`."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"invalid size: '{text}'")
    try:
        size = Decimal(m.group(1))
    except InvalidOperation:
        raise ValueError(f"invalid size: '{text}'") from None
    power = " kmgtp".index((m.group(2) or " ").lower())
    return int(size * (1024**power))


def parse_nano_cpus(text: str) -> int:
    """docker's NanoCPUs: a decimal number of CPUs (`0.5`) as an integer of 1e-9 CPUs."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"failed to parse {text} as a rational number") from None
    if not value.is_finite():
        raise ValueError(f"failed to parse {text} as a rational number")
    nano = value * 1_000_000_000
    if nano != nano.to_integral_value():
        raise ValueError("value is too precise")
    return int(nano)


def parse_uint(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    return int(text)


def parse_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    return int(text)


def parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None


def parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def one_of(*choices: str):
    def check(text: str) -> str:
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return check


# ---- argparse types ---------------------------------------------------------------------

duration = _type("duration", parse_duration)
size = _type("bytes", parse_bytes)
cpus = _type("decimal", parse_nano_cpus)
uint = _type("uint", parse_uint)
integer = _type("int", parse_int)
floating = _type("float", parse_float)
boolean = _type("bool", parse_bool)


def choice(*choices: str):
    return _type("string", one_of(*choices))


def validated(name: str, fn):
    """An argparse type from any pure parser that raises ValueError(reason)."""
    return _type(name, fn)
