"""Where the out-of-domain gap lies: per language, OOD retention against in-domain retention and training pairs.

    .venv/bin/python bench/ood_gap.py bench/headline_protocol_run/eval_test_parallel_s0/report.json

Prints a table per language and the Spearman correlations (scipy) of OOD retention with the language's
number of training pairs (gettext train split) and with its in-domain retention.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from scipy.stats import spearmanr

from kdnas.data.gettext import load_gettext_corpus


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text())
    per_language = report["retention"]["per_language"]
    ood, ind = per_language["ood_retrieval"], per_language.get("retrieval", {})
    corpus = load_gettext_corpus(max_texts={"proxy": 3000, "validation": 1500})
    train_pairs = Counter(p.language for p in corpus.pairs("train"))
    rows = sorted((lang, train_pairs[lang], ind.get(lang), r) for lang, r in ood.items() if r is not None)
    print("| language | train pairs | in-domain retention | out-of-domain retention |\n|---|---:|---:|---:|")
    for lang, n, r_in, r_out in sorted(rows, key=lambda row: row[3]):
        print(f"| {lang} | {n:,} | {'-' if r_in is None else f'{r_in:.3f}'} | {r_out:.3f} |")
    with_in = [row for row in rows if row[2] is not None]
    rho_pairs = spearmanr([row[1] for row in rows], [row[3] for row in rows])
    rho_in = spearmanr([row[2] for row in with_in], [row[3] for row in with_in])
    print(f"\nSpearman(OOD retention, train pairs) = {rho_pairs.statistic:.2f} (p {rho_pairs.pvalue:.3f}, n {len(rows)})")
    print(f"Spearman(OOD retention, in-domain retention) = {rho_in.statistic:.2f} (p {rho_in.pvalue:.3f}, n {len(with_in)})")


if __name__ == "__main__":
    main()
