"""Deterministic bucketing, bit-compatible with GrowthBook's SDKs (pure: no Django).

Reference: GrowthBook JavaScript SDK, ``src/util.ts`` (``hash``, ``getBucketRanges``,
``chooseVariation``, ``inNamespace``, ``getEqualWeights``) and the shared test vectors
``cases.json`` of the GrowthBook SDK specification.

* ``fnv1a32``: 32-bit FNV-1a (offset basis 0x811C9DC5, prime 0x01000193) over the UTF-16 code
  units of the text, as JavaScript's ``charCodeAt`` yields them; a character outside the Basic
  Multilingual Plane therefore contributes its two surrogate halves. (GrowthBook's Python SDK
  iterates code points instead and so disagrees with the JS SDK on such characters; Splitlab
  follows JS, the reference implementation.)
* hash v1: ``fnv1a32(value + seed) mod 1000 / 1000``; correlated across seeds that differ only
  in their last characters, kept for compatibility only.
* hash v2: ``fnv1a32(str(fnv1a32(seed + value))) mod 10000 / 10000``.

The ``*_many`` functions are numpy versions for batches, equal element for element to the
scalar ones (the property tests check this).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "FNV_OFFSET",
    "FNV_PRIME",
    "choose_variation",
    "choose_variation_many",
    "fnv1a32",
    "fnv1a32_continue",
    "get_bucket_ranges",
    "get_equal_weights",
    "hash",
    "hash_many",
    "code_units",
    "hash_v2_units",
    "hash_v2_with_prefix",
    "in_namespace",
]

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF

BucketRange = tuple[float, float]


def code_units(text: str) -> bytes | memoryview:
    """UTF-16 code units of ``text`` as an iterable of ints (bytes when ASCII, the fast path)."""
    if text.isascii():
        return text.encode("ascii")
    return memoryview(text.encode("utf-16-le")).cast("H")


def fnv1a32_continue(state: int, text: str) -> int:
    """FNV-1a state after feeding ``text`` to ``state``: ``h = (h XOR unit) * prime mod 2**32``."""
    h = state
    for unit in code_units(text):
        h = ((h ^ unit) * FNV_PRIME) & _MASK32
    return h


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a hash of ``text`` over its UTF-16 code units (an int in [0, 2**32))."""
    return fnv1a32_continue(FNV_OFFSET, text)


def hash_v2_with_prefix(seed_state: int, value: str) -> float:
    """Hash v2 of ``value`` given ``seed_state = fnv1a32(seed)`` (precomputed per experiment).

    Equal to ``hash(seed, value, 2)``; FNV is a left fold, so the seed's prefix state can be
    computed once and reused for every user.
    """
    return hash_v2_units(seed_state, code_units(value))


def _decimal_prefix_states(digits: int) -> dict[bytes, int]:
    """FNV-1a states after every ``digits``-digit decimal prefix without a leading zero."""
    return {
        b"%d" % number: fnv1a32(str(number)) for number in range(10 ** (digits - 1), 10**digits)
    }


# The second pass of hash v2 folds str(h): its first four digits come from this table.
_PREFIX4 = _decimal_prefix_states(4)


def hash_v2_units(
    seed_state: int,
    units: bytes | memoryview,
    _prime: int = FNV_PRIME,
    _mask: int = _MASK32,
    _prefix: dict[bytes, int] = _PREFIX4,
) -> float:
    """:func:`hash_v2_with_prefix` for a value already split into ``code_units`` (the hot
    path splits a user id once for all experiments). The trailing parameters bind constants
    as locals (faster in CPython's loop); never pass them."""
    h = seed_state
    for unit in units:
        h = ((h ^ unit) * _prime) & _mask
    decimal = b"%d" % h
    if len(decimal) > 4:
        n = _prefix[decimal[:4]]
        decimal = decimal[4:]
    else:
        n = FNV_OFFSET
    for unit in decimal:
        n = ((n ^ unit) * _prime) & _mask
    return (n % 10000) / 10000


def hash(
    seed: str, value: str, version: int
) -> float | None:  # GrowthBook's name (shadows the builtin here only)
    """GrowthBook's hash of ``value`` under ``seed``: a float in [0, 1), None if version unknown.

    v1: ``fnv1a32(value + seed) % 1000 / 1000``; v2: ``fnv1a32(str(fnv1a32(seed + value)))
    % 10000 / 10000``.
    """
    if version == 2:
        return hash_v2_with_prefix(fnv1a32(seed), value)
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def get_equal_weights(num_variations: int) -> list[float]:
    """``num_variations`` equal weights summing to 1 (empty for fewer than one variation)."""
    if num_variations < 1:
        return []
    return [1.0 / num_variations] * num_variations


def get_bucket_ranges(
    num_variations: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[BucketRange]:
    """Bucket ranges ``[start, start + coverage * w)`` laid end to end by weight.

    Coverage is clamped to [0, 1]. Weights that are missing, of the wrong length, or whose sum
    lies outside [0.99, 1.01] fall back to equal weights (GrowthBook's rule).
    """
    coverage = min(max(coverage, 0.0), 1.0)
    if weights is None or len(weights) != num_variations:
        weights = get_equal_weights(num_variations)
    total = sum(weights)
    if total < 0.99 or total > 1.01:
        weights = get_equal_weights(num_variations)
    ranges: list[BucketRange] = []
    cumulative = 0.0
    for weight in weights:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[BucketRange]) -> int:
    """Index of the first range with ``start <= n < end``; -1 when ``n`` is in none of them."""
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return -1


def in_namespace(user_id: str, namespace: tuple[str, float, float] | Sequence) -> bool:
    """Whether ``user_id`` falls in ``namespace = (id, start, end)``: ``start <= h < end``.

    ``h = hash("__" + id, user_id, 1)``, GrowthBook's namespace hash (version 1).
    """
    namespace_id, start, end = namespace
    n = hash("__" + namespace_id, user_id, 1)
    return n is not None and start <= n < end


# --- numpy batch versions ------------------------------------------------------------------


def _unit_matrix(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Code units of ``values`` as a zero-padded (n, width) uint32 matrix, the lengths, and a
    mask of rows the matrix cannot represent (non-BMP characters or NUL), hashed one by one."""
    array = np.asarray(values, dtype=np.str_)
    if array.ndim != 1:
        array = array.reshape(-1)
    width = array.dtype.itemsize // 4
    if len(array) == 0 or width == 0:
        n = len(array)
        return np.zeros((n, 0), np.uint32), np.zeros(n, np.int64), np.zeros(n, bool)
    units = array.view(np.uint32).reshape(len(array), width)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(array))
    # numpy strips trailing NULs, and code points above 0xFFFF are two UTF-16 units in JS.
    fallback = (np.char.str_len(array) != lengths) | (units > 0xFFFF).any(axis=1)
    return units, lengths, fallback


def _fnv_columns(state: np.ndarray, units: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Feed each row's first ``lengths[i]`` units into ``state`` (uint32 arithmetic wraps)."""
    prime = np.uint32(FNV_PRIME)
    for column in range(units.shape[1]):
        active = lengths > column
        if not active.any():
            break
        stepped = (state ^ units[:, column]) * prime
        state = np.where(active, stepped, state)
    return state


def _fnv_of_decimal(h: np.ndarray) -> np.ndarray:
    """``fnv1a32(str(h))`` element-wise for uint32 ``h``."""
    h64 = h.astype(np.int64)
    digits = np.ones_like(h64)
    for power in range(1, 10):
        digits += h64 >= 10**power
    state = np.full(h.shape, FNV_OFFSET, dtype=np.uint32)
    prime = np.uint32(FNV_PRIME)
    for position in range(10):
        active = digits > position
        exponent = np.maximum(digits - 1 - position, 0)
        digit = (h64 // (10**exponent)) % 10
        stepped = (state ^ (digit + 48).astype(np.uint32)) * prime
        state = np.where(active, stepped, state)
    return state


def hash_many(seed: str, values: Sequence[str], version: int) -> np.ndarray:
    """``hash(seed, v, version)`` for every ``v`` in ``values`` as a float64 array.

    Raises ``ValueError`` for an unknown version (the scalar function returns None).
    """
    if version not in (1, 2):
        raise ValueError(f"unknown hash version {version!r}")
    units, lengths, fallback = _unit_matrix(values)
    n = len(lengths)
    with np.errstate(over="ignore"):
        if version == 2:
            state = np.full(n, fnv1a32(seed), dtype=np.uint32)
            state = _fnv_columns(state, units, lengths)
            result = (_fnv_of_decimal(state) % 10000).astype(np.float64) / 10000
        else:
            state = np.full(n, FNV_OFFSET, dtype=np.uint32)
            state = _fnv_columns(state, units, lengths)
            seed_units = np.frombuffer(seed.encode("utf-16-le"), dtype="<u2").astype(np.uint32)
            prime = np.uint32(FNV_PRIME)
            for unit in seed_units:
                state = (state ^ unit) * prime
            result = (state % 1000).astype(np.float64) / 1000
    for index in np.flatnonzero(fallback).tolist():
        result[index] = hash(seed, values[index], version)
    return result


def choose_variation_many(n: np.ndarray, ranges: Sequence[BucketRange]) -> np.ndarray:
    """``choose_variation`` element-wise: int64 array of range indexes, -1 outside all ranges."""
    chosen = np.full(n.shape, -1, dtype=np.int64)
    # Walk backwards so the first matching range wins, as in the scalar version.
    for index in range(len(ranges) - 1, -1, -1):
        start, end = ranges[index]
        chosen[(n >= start) & (n < end)] = index
    return chosen
