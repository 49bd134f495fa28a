"""Near-duplicate leakage across splits, before and after family splits, and the family sizes per relation.

    .venv/bin/python bench/split_leakage.py

"Before" assigns each exact English source to a split by its hash (``split_of``, the old rule); "after" is
``load_gettext_corpus`` (families of normalised-equal, Jaccard >= 0.8 and one-word-apart sources). Both use
the gettext fractions and no caps. Prints the test sources with a near-duplicate in train, all sources with one
in another split, the family statistics with each set of relations, and the out-of-domain set's size once
every corpus source is excluded.
"""

from __future__ import annotations

from kdnas.data.corpus import SPLITS, Corpus, CorpusSplit, TranslationPair, split_of
from kdnas.data.gettext import DEFAULT_LOCALE_DIR, extract_gettext, load_gettext_corpus
from kdnas.data.gettext.load import GETTEXT_FRACTIONS
from kdnas.data.out_of_domain import load_out_of_domain
from kdnas.data.splits.families import find_families
from kdnas.data.splits.leakage import leakage


def exact_string_corpus() -> Corpus:
    translations = extract_gettext(DEFAULT_LOCALE_DIR, 4, 300, None).translations
    pairs: dict[str, list[TranslationPair]] = {s: [] for s in SPLITS}
    for source, per_language in translations.items():
        split = split_of(source, dict(GETTEXT_FRACTIONS))
        pairs[split] += [TranslationPair(source, text, lang) for lang, text in per_language.items()]
    return Corpus("gettext (exact-string splits)", {s: CorpusSplit(texts=[], pairs=p) for s, p in pairs.items()})


def main() -> None:
    after = load_gettext_corpus()
    print("| splits | relation | test sources with a near-duplicate in another split | all splits |\n|---|---|---:|---:|")
    for label, corpus in (("exact string (before)", exact_string_corpus()), ("families (after)", after)):
        figures = leakage(corpus)
        for relation in ("normalized_equal", "jaccard", "one_word_apart"):
            test, total = figures[relation]["test"], figures[relation]["total"]
            print(f"| {label} | {relation} | {test} ({test / figures['sources']['test']:.1%}) | "
                  f"{total} ({total / figures['sources']['total']:.1%}) |")
    sources = sorted({p.source for s in SPLITS for p in after.pairs(s)})
    print("\n| relations | families | singletons | largest |\n|---|---:|---:|---|")
    for label, kwargs in (("normalised-equal", {"jaccard": None, "one_word": False}),
                          ("+ Jaccard >= 0.8", {"one_word": False}), ("+ one word apart", {})):
        stats = find_families(sources, **kwargs).stats()
        print(f"| {label} | {stats['families']:,} | {stats['singletons']:,} | {stats['largest'][:3]} "
              f"({stats['largest_share']:.2%} of {stats['texts']:,}) |")
    ood = load_out_of_domain(exclude_sources=sources)
    languages = ood.languages()
    print(f"\nout-of-domain: {len(ood.pairs):,} pairs, {len({p.source for p in ood.pairs}):,} English sources, "
          f"{sum(n >= 150 for n in languages.values())} languages with >= 150 pairs, "
          f"{ood.removed_sources} sources removed as in the corpus")


if __name__ == "__main__":
    main()
