"""Per-household draws without per-household storage: counter-based hashing of (stream, row).

A `HashedDraws` column gives household *row*'s draw number *j* as a pure function of a 64-bit
stream key and ``row * width + j`` (splitmix64, the hash `sim.hotpath.disburse` uses for
redemptions), so the draws of a household are the same whenever and wherever they are asked
for, and nothing is stored per household: a region holds only the few households in flight. The
stream key comes from the run's named streams (`Streams.get(name, *sub)`), so it depends on the
seed, the stream, its sub-keys and the region only (common random numbers hold as before).

Integer arithmetic only, so the draws are bit-identical on every machine; the scalar path
(one household, from a SimPy process) and the array path (many rows at once) agree exactly.
"""

from __future__ import annotations

import math

import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB
_UNIT = 2.0 ** -53


def mix(key: int, counter: int) -> int:
    """splitmix64 of ``counter * golden + key`` (Python ints, mod 2**64)."""
    z = (counter * _GOLDEN + key) & _MASK
    z = ((z ^ (z >> 30)) * _C1) & _MASK
    z = ((z ^ (z >> 27)) * _C2) & _MASK
    return z ^ (z >> 31)


def mix_array(key: int, counters: np.ndarray) -> np.ndarray:
    """`mix` of every element of int64 *counters* (uint64 result)."""
    z = counters.astype(np.uint64) * np.uint64(_GOLDEN)
    z += np.uint64(key)
    z ^= z >> np.uint64(30)
    z *= np.uint64(_C1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_C2)
    z ^= z >> np.uint64(31)
    return z


def stream_key(rng: np.random.Generator) -> int:
    """A 64-bit key drawn from a named stream's generator."""
    return int(rng.integers(0, 2**63, dtype=np.int64)) * 2 + 1


class Uniforms:
    """Uniforms in [0, 1) per (row, j < width): ``u[row]``, ``u[row, j]`` or ``u[rows]``."""

    def __init__(self, key: int, width: int = 1) -> None:
        self.key = key
        self.width = width

    def __getitem__(self, idx):
        if isinstance(idx, tuple):
            row, j = idx
            return (mix(self.key, int(row) * self.width + int(j)) >> 11) * _UNIT
        if isinstance(idx, int | np.integer):
            return (mix(self.key, int(idx) * self.width) >> 11) * _UNIT
        rows = np.asarray(idx, dtype=np.int64)
        return (mix_array(self.key, rows * self.width) >> np.uint64(11)).astype(
            np.float64) * _UNIT


class LogNormals:
    """Log-normal draws per row (Box-Muller on two hashed uniforms, scalar libm functions)."""

    def __init__(self, key: int, median: float, sigma: float) -> None:
        self.u = Uniforms(key, 2)
        self.mu = math.log(max(median, 1e-9))
        self.sigma = sigma

    def __getitem__(self, row) -> float:
        u1, u2 = self.u[row, 0], self.u[row, 1]
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        return math.exp(self.mu + self.sigma * z)
