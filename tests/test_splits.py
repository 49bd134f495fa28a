"""Near-duplicate-safe splits: the exact relations, the families, the leakage figures, and the CLI."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from kdnas.data.corpus import SPLITS, Corpus, CorpusSplit, TranslationPair, split_of
from kdnas.data.gettext import DEFAULT_LOCALE_DIR, list_catalogs, load_gettext_corpus
from kdnas.data.gettext.load import GETTEXT_FRACTIONS
from kdnas.data.gettext.splits import build_split, drop_cross_split_texts, group_by_split
from kdnas.data.splits import family_splits, find_families, leakage
from kdnas.data.splits.near_duplicates import group_edges, jaccard, jaccard_pairs, one_word_groups
from kdnas.data.text_files import DEFAULT_FRACTIONS, split_monolingual
from kdnas.pipelines.splits import hydra_overrides, main

# --- the relations, against brute force ----------------------------------------------------------------


def one_word_apart(a: str, b: str) -> bool:
    x, y = a.split(), b.split()
    if len(x) == len(y):
        return len(x) > 1 and sum(u != v for u, v in zip(x, y, strict=True)) == 1
    if len(x) > len(y):
        x, y = y, x
    return len(y) == len(x) + 1 and any(y[:i] + y[i + 1 :] == x for i in range(len(y)))


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.9, 1.0])
def test_jaccard_pairs_equal_brute_force(threshold: float) -> None:
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(30)]
    sets = [frozenset(rng.sample(vocab, rng.randint(1, 12))) for _ in range(400)]
    sets += [frozenset(sorted(s)[:-1]) for s in sets[:150]] + [frozenset()]  # near pairs, and an empty set
    brute = [
        (i, j)
        for i, j in itertools.combinations(range(len(sets)), 2)
        if sets[i] and sets[j] and jaccard(sets[i], sets[j]) >= threshold - 1e-9
    ]
    assert jaccard_pairs(sets, threshold) == brute
    assert brute  # the test compares something


def test_one_word_groups_equal_brute_force() -> None:
    rng = random.Random(1)
    words = ["a", "b", "c", "d", "e", "f"]
    forms = sorted({" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) for _ in range(600)})
    groups = one_word_groups(forms)
    found = {(min(g[i], g[j]), max(g[i], g[j])) for g in groups for i, j in itertools.combinations(range(len(g)), 2)}
    brute = {(i, j) for i, j in itertools.combinations(range(len(forms)), 2) if one_word_apart(forms[i], forms[j])}
    assert found == brute and len(brute) > 100
    # restricted to what Jaccard >= 0.8 may miss, the union of the two relations has the same components
    sets = [frozenset(f.split()) for f in forms]
    full = find_components(len(forms), jaccard_pairs(sets) + groups)
    restricted = find_components(len(forms), jaccard_pairs(sets) + one_word_groups(forms, beyond_jaccard=0.8))
    assert full == restricted


def find_components(n: int, groups: list[tuple[int, ...]]) -> set[frozenset[int]]:
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in group_edges(groups):
        parent[root(a)] = root(b)
    members: dict[int, set[int]] = {}
    for i in range(n):
        members.setdefault(root(i), set()).add(i)
    return {frozenset(m) for m in members.values()}


# --- families on planted near-duplicates -------------------------------------------------------------------

VOCAB = [f"{c}{v}{k}" for c in "bdfgklmnprst" for v in "aeiou" for k in "nrs"]  # 180 pseudo-words


def planted(n: int = 120, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """Base sentences of distinct words, each with near-duplicates; returns the texts and the planted groups."""
    rng = random.Random(seed)
    texts: list[str] = []
    groups: list[list[str]] = []
    for _ in range(n):
        words = rng.sample(VOCAB, rng.randint(5, 12))
        base = " ".join(words).capitalize() + "."
        variants = [
            base.upper().rstrip(".") + "!",  # case and punctuation
            f"{base[:-1]} 42.",  # a digit
            " ".join([*words[:1], rng.choice(VOCAB), *words[2:]]),  # one word substituted
            " ".join([*words, rng.choice(VOCAB)]),  # one word inserted (Jaccard >= 0.8 when long)
        ]
        group = [base, *rng.sample(variants, rng.randint(1, len(variants)))]
        groups.append(group)
        texts += group
    return texts, groups


def test_planted_families_stay_together() -> None:
    texts, groups = planted()
    families = find_families(texts)
    for group in groups:
        assert len({families.family_of[t] for t in group}) == 1, group
    splits = family_splits(texts, DEFAULT_FRACTIONS)
    assert all(len({splits[t] for t in group}) == 1 for group in groups)
    assert len(set(splits.values())) == len(SPLITS)
    # a text with no near-duplicate keeps the split of its own hash (the exact-text split of before)
    lone = "Zzz qqq xxx vvv www"
    assert family_splits([*texts, lone], DEFAULT_FRACTIONS)[lone] == split_of(lone, dict(DEFAULT_FRACTIONS))


def test_one_word_apart_can_be_left_out() -> None:
    short = ["Open the file now", "Open the folder now"]  # one word apart, Jaccard 3/5
    assert len(find_families(short).members) == 1
    assert len(find_families(short, one_word=False).members) == 2
    assert len(find_families(["open it up", "Open it up!"], jaccard=None, one_word=False).members) == 1


def test_monolingual_corpus_has_no_leakage() -> None:
    texts, _groups = planted(seed=1)
    corpus = split_monolingual("planted", texts)
    leaks = leakage(corpus)
    assert leaks["sources"]["total"] == len(set(texts))
    assert all(leaks[r]["total"] == 0 for r in ("normalized_equal", "jaccard", "one_word_apart"))


def test_gettext_groups_keep_families_together() -> None:
    texts, groups = planted(seed=2)
    translations = {t: {"fr": f"fr {i}", "de": f"de {i % 7}"} for i, t in enumerate(texts)}  # de is shared
    grouped = group_by_split(translations, GETTEXT_FRACTIONS)
    drop_cross_split_texts(grouped)
    corpus = Corpus("planted", {s: build_split(grouped[s], None, random.Random(s)) for s in SPLITS})
    where = {p.source: s for s in SPLITS for p in corpus.pairs(s)}
    assert all(len({where[t] for t in group if t in where}) == 1 for group in groups)
    assert all(leakage(corpus)[r]["total"] == 0 for r in ("normalized_equal", "jaccard", "one_word_apart"))


def test_leakage_counts_what_crosses() -> None:
    def split_of_sources(*sources: str) -> CorpusSplit:
        return CorpusSplit(texts=list(sources), pairs=[TranslationPair(s, f"x {s}", "fr") for s in sources])

    long = "one two three four five six seven eight nine ten"
    splits = {s: CorpusSplit(texts=[]) for s in SPLITS}
    splits["train"] = split_of_sources("Cannot open file", long, "Save the file now")
    splits["test"] = split_of_sources(
        "cannot open file.",  # normalised-equal (so also Jaccard 1)
        long.replace("ten", "eleven"),  # one word substituted, Jaccard 9/11 >= 0.8
        "Save the folder now",  # one word apart, Jaccard 3/5
        "Nothing like the others here",
    )
    splits["dev"] = CorpusSplit(texts=["Cannot open file 2"])  # monolingual split: its texts are its sources
    leaks = leakage(Corpus("toy", splits))
    assert leaks["sources"] == {"train": 3, "proxy": 0, "validation": 0, "dev": 1, "test": 4, "total": 8}
    assert leaks["normalized_equal"]["test"] == 1 and leaks["normalized_equal"]["total"] == 3
    assert leaks["jaccard"]["test"] == 2 and leaks["jaccard"]["train"] == 2
    assert leaks["one_word_apart"]["test"] == 2 and leaks["one_word_apart"]["train"] == 2
    assert leaks["one_word_apart"]["dev"] == 0  # equal to train's, not one word apart


# --- the real corpus and the CLI -------------------------------------------------------------------------------


def test_real_corpus_has_no_near_duplicate_leakage() -> None:
    if len(list_catalogs(DEFAULT_LOCALE_DIR)) < 100:
        pytest.skip("this machine has few gettext catalogs under /usr/share/locale")
    leaks = leakage(load_gettext_corpus())  # the cached extraction
    assert leaks["sources"]["test"] > 1000
    assert leaks["normalized_equal"]["total"] == 0
    assert leaks["jaccard"]["total"] == 0
    assert leaks["one_word_apart"]["total"] == 0  # the families include one word apart


def test_cli_prints_the_table_and_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts, _ = planted(seed=3)
    data = tmp_path / "corpus.txt"
    data.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "out dir, with 'quotes'"
    result = main(["data=text_files", f"data.corpus.paths=[{data}]", "--write", str(out)])
    printed = capsys.readouterr().out
    assert result is not None and all(result["leakage"][r]["total"] == 0 for r in ("jaccard", "one_word_apart"))
    for split in SPLITS:
        assert f"\n{split} " in printed
        lines = (out / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        assert len(lines) == result["sizes"][split]
    assert "norm-equal" in printed and "\ntotal " in printed
    written = {line for s in SPLITS for line in (out / f"{s}.txt").read_text(encoding="utf-8").splitlines()}
    assert written == set(texts)


def test_cli_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    user_file = tmp_path / "notes.txt"
    user_file.write_text("mine\n")
    with pytest.raises(SystemExit) as info:
        main(["data=text_files", f"data.corpus.paths=[{user_file}]", f"--write={user_file}"])
    assert info.value.code == 2 and user_file.read_text() == "mine\n"
    assert "exists and is not a directory" in capsys.readouterr().err
    for argv in (["--writ", "x"], ["--write"], ["data=nope"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert capsys.readouterr().err.count("\n") == 1  # one line
    assert hydra_overrides(["--write", "a b"]) == ["write='a b'"]
