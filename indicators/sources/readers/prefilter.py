"""Cut a CSV byte stream into lines and let through only those that can matter, before parsing.

Why: a national SIRENE stock is 40 million lines, of which the platform-worker rule uses about
one in a hundred. Tokenizing all of them was most of the national refresh; finding the few
candidate lines in the raw bytes costs a fraction of it (numpy, which releases the GIL while the
inflater thread works). The prefilter only ever *keeps too much*: the parser then applies the
exact filter on real columns. A line is dropped only when its bytes prove it cannot match:

- `HasAny(needles)`: the line contains none of the byte strings (the APE codes searched);
- `FirstKeyIn(keys, width, sep)`: the line starts with a digit, has the separator right after
  `width` bytes (its first field is exactly those bytes, unquoted), and those bytes are not one
  of the keys (the siren or siret, first column of the SIRENE files). A line that does not start
  that way (a quoted or shorter first field) is kept.

A record broken over two lines by a quoted line break cannot be told apart here: its pieces make
the parse of the selected lines fail, and the caller then parses the whole file.
"""

from __future__ import annotations

import io

import numpy as np

BLOCK = 1 << 24
NEWLINE = ord("\n")


class HasAny:
    """Lines holding one of `needles`: found by their last byte, then checked byte by byte."""

    def __init__(self, needles: list[bytes]):
        self.needles = [np.frombuffer(n, np.uint8) for n in needles if n]

    def lines(self, a: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Indices of the lines (`starts`, `ends`: their bounds in `a`) to keep."""
        hits = []
        for last in {int(n[-1]) for n in self.needles}:
            found = np.flatnonzero(a == last)
            for n in (n for n in self.needles if n[-1] == last):
                e = found[found >= len(n) - 1]
                ok = np.ones(len(e), dtype=bool)
                for k in range(1, len(n)):
                    ok &= a[e - k] == n[-1 - k]
                hits.append(e[ok])
        if not hits:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.searchsorted(ends, np.concatenate(hits), side="right"))


def _words(a: np.ndarray) -> np.ndarray:
    """The 8 bytes starting at each offset of `a`, as little-endian uint64 (a strided view)."""
    n = len(a)
    if n < 8:
        return np.empty(0, dtype="<u8")
    base = np.frombuffer(a.data, dtype="<u8", count=n // 8)
    return np.lib.stride_tricks.as_strided(base, shape=(n - 7,), strides=(1,), writeable=False)


class FirstKeyIn:
    """Lines whose first field is not a `width`-digit number absent from `keys`.

    A line is dropped only when it starts with a digit, has the separator right after `width`
    bytes (so its first field is exactly those bytes, unquoted), and those bytes are not a key.
    Most lines are settled by one lookup of a hash of their first bytes in a 16 MB table of the
    keys' hashes; the few that hit it are checked exactly against the sorted keys."""

    MULT = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))

    def __init__(self, keys: np.ndarray, width: int, sep: bytes):
        if width < 8:
            raise ValueError("keys of at least 8 digits")
        self.keys, self.width, self.sep = np.unique(keys.astype(np.int64)), width, sep[0]
        text = "".join(f"{k:0{width}d}" for k in self.keys.tolist()).encode() + b"\0" * 8
        offsets = np.arange(len(self.keys)) * width
        self.table = np.zeros(1 << 24, dtype=bool)
        self.table[self._slot(_words(np.frombuffer(text, np.uint8)), offsets)] = True

    def _slot(self, words: np.ndarray, s: np.ndarray) -> np.ndarray:
        # the first 8 bytes and the last 8 of the `width`: every byte of the field counts
        h = words[s] * self.MULT[0] ^ words[s + self.width - 8] * self.MULT[1]
        return (h >> np.uint64(40)).astype(np.int64)

    def _values(self, a: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        numeric = np.ones(len(s), dtype=bool)
        value = np.zeros(len(s), dtype=np.int64)
        for k in range(self.width):   # digit by digit: a byte below '0' wraps around above 9
            digit = a[s + k] - np.uint8(48)
            numeric &= digit <= 9
            value = value * 10 + digit
        return numeric, value

    def lines(self, a: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Indices of the lines (`starts`, `ends`: their bounds in `a`) to keep."""
        w = self.width
        keep = np.ones(len(starts), dtype=bool)
        candidates = np.flatnonzero((ends - starts > w) & (starts + w < len(a)))
        s = starts[candidates]
        plain = ((a[s] - np.uint8(48)) <= 9) & (a[s + w] == self.sep)
        candidates, s = candidates[plain], s[plain]
        hit = self.table[self._slot(_words(a), s)]
        keep[candidates[~hit]] = False        # surely not a key
        numeric, value = self._values(a, s[hit])
        pos = np.searchsorted(self.keys, value).clip(0, max(len(self.keys) - 1, 0))
        known = (self.keys[pos] == value) if len(self.keys) else np.zeros(len(value), dtype=bool)
        keep[candidates[hit]] = ~numeric | known
        return np.flatnonzero(keep)


def select(data, rule) -> tuple[bytes, int]:
    """The lines of `data` (whole lines only) that `rule` keeps, joined, and the number of lines."""
    a = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(a == NEWLINE) + 1
    if len(ends) == 0 or ends[-1] != len(a):
        ends = np.r_[ends, len(a)]
    starts = np.r_[0, ends[:-1]]
    line = rule.lines(a, starts, ends)
    return b"".join(data[starts[i]:ends[i]] for i in line.tolist()), len(ends)


class LineFilter(io.RawIOBase):
    """The header line of `raw`, then its lines that `rule` keeps. `lines`: lines read (header
    excluded, a last line without its newline counted)."""

    def __init__(self, raw, rule):
        super().__init__()
        self.raw, self.rule = raw, rule
        self.out = bytearray(raw.readline())
        self.pending, self.done, self.lines = b"", False, 0

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        chunk = self.raw.read(BLOCK)
        if not chunk:
            self.done = True
            if self.pending:
                self._take(self.pending if self.pending.endswith(b"\n") else self.pending + b"\n")
            return
        first, last = chunk.find(b"\n"), chunk.rfind(b"\n")
        if first == -1:                     # no line ends in this block
            self.pending += chunk
            return
        # the line begun in the previous block ends here; then this block's own lines, in place
        self._take(self.pending + chunk[:first + 1])
        if last > first:
            self._take(memoryview(chunk)[first + 1:last + 1])
        self.pending = chunk[last + 1:]

    def _take(self, data: bytes) -> None:
        kept, n = select(data, self.rule)
        self.lines += n
        self.out += kept

    def readinto(self, buffer) -> int:
        # filled as far as asked: the parser makes a batch of each read, and few large ones
        # are what it and the exact filter after it are fast on
        while len(self.out) < len(buffer) and not self.done:
            self._fill()
        n = min(len(buffer), len(self.out))
        buffer[:n] = self.out[:n]
        del self.out[:n]
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()
