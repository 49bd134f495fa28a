"""Benchmark: the LSTM controller against random search, and the teacher-output cache.

    .venv/bin/python bench/search_efficiency.py [--seeds 3] [--episodes 4] [--k 3] [--proxy-steps 20]

Part 1 runs the search with ``controller=lstm`` and ``controller=random`` for several seeds at equal
numbers of proxy distillations (episodes x k) on the default teacher, corpus and search space
(``me5_small``), with a shorter proxy distillation than the default so that the comparison fits on two
cores. All runs share one candidate store, so an architecture proposed by several runs is distilled once
(its measurement is the same whoever proposed it): the comparison is about which candidates each
controller proposes. Prints the best reward found after each number of evaluations, averaged over seeds.

Part 2 times one candidate's proxy distillation with the teacher's hidden states read from the cache and
with a live teacher forward, side by side.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

ROOT = Path(__file__).resolve().parents[1]


def config(overrides: list[str], out: Path):  # type: ignore[no-untyped-def]
    from kdnas.pipelines.schemas import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("search", overrides=[*overrides, f"paths.output_dir={out}"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def best_curve(run_dir: Path) -> list[float]:
    with open(run_dir / "candidates.csv") as handle:
        rewards = [float(r["reward"]) if r["reward"] else 0.0 for r in csv.DictReader(handle)]
    return list(np.maximum.accumulate(rewards))


def part1(args: argparse.Namespace, work: Path) -> None:
    from kdnas.pipelines.search import search

    store = work / "store.sqlite"
    common = ["logger=none", f"search.episodes={args.episodes}", f"search.candidates_per_episode={args.k}",
              f"search.proxy_steps={args.proxy_steps}", f"search.shared_store={store}",
              "data.corpus.max_texts={train: null, proxy: 1500, validation: 600, dev: null, test: null}"]
    curves: dict[str, list[list[float]]] = {"lstm": [], "random": []}
    started = time.time()
    for seed in range(args.seeds):
        for controller in curves:
            run_dir = work / f"{controller}_{seed}"
            search(config([*common, f"controller={controller}", f"search.seed={seed}"], run_dir))
            curves[controller].append(best_curve(run_dir))
    n = args.episodes * args.k
    print(f"\nbest reward found vs proxy distillations, mean (min-max) over {args.seeds} seeds "
          f"({time.time() - started:.0f} s):\n")
    print("| evaluations | " + " | ".join(curves) + " |")
    print("|---|" + "---|" * len(curves))
    for i in range(args.k - 1, n, args.k):
        cells = []
        for c in curves.values():
            vals = [curve[i] for curve in c if len(curve) > i]
            cells.append(f"{np.mean(vals):.4f} ({min(vals):.4f}-{max(vals):.4f})")
        print(f"| {i + 1} | " + " | ".join(cells) + " |")


def part2(args: argparse.Namespace, work: Path) -> None:
    import functools

    import hydra

    from kdnas.latency.profile import LatencyProfile
    from kdnas.models.arch import ArchSpec
    from kdnas.nas.evaluator import ProxyEvaluator
    from kdnas.pipelines.common import load_corpus, load_teacher, make_datamodule
    from kdnas.pipelines.search import teacher_caches

    cfg = config(["data.corpus.max_texts={train: null, proxy: 1500, validation: 600, dev: null, test: null}"], work / "p2")
    teacher, corpus = load_teacher(cfg), load_corpus(cfg)
    forwards = [0]  # teacher forward passes, counted by a hook: caching the states must make them 0
    teacher.model.register_forward_hook(lambda *_: forwards.__setitem__(0, forwards[0] + 1))
    arch = ArchSpec(3, 256, 8, 768, "gelu")
    times = {}
    for mode in ("cached", "live"):
        dm = make_datamodule(cfg, corpus, teacher, train_split="proxy", val_split="validation", paired=False)
        if mode == "cached":
            dm.teacher_caches = teacher_caches(cfg, teacher, dm)
        evaluator = ProxyEvaluator(
            build_student=lambda a: hydra.utils.instantiate(cfg.student_init)(a, teacher.model),
            build_module=lambda s, m=mode: hydra.utils.instantiate(cfg.distill)(
                student=s, teacher=teacher.model if m == "live" else None,
                teacher_layers=teacher.num_layers, teacher_hidden_size=teacher.hidden_size),
            datamodule=dm, profile=LatencyProfile(warmup=1, repeats=3),
            make_trainer=functools.partial(hydra.utils.instantiate, cfg.trainer, max_steps=args.proxy_steps * 2),
        )
        before = forwards[0]
        m = evaluator(arch, seed=0)
        times[mode] = (m.wall_seconds, forwards[0] - before, m.loss)
    print(f"\nper-candidate cost, {arch.short_name}, {args.proxy_steps * 2} proxy steps + validation:\n")
    print("| teacher states | wall s | teacher forward calls | proxy loss |\n|---|---|---|---|")
    for mode, (wall, calls, loss) in times.items():
        print(f"| {mode} | {wall:.1f} | {calls} | {loss:.4f} |")
    print(f"\ncache speed-up per candidate: {times['live'][0] / times['cached'][0]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description="LSTM vs random search; teacher-output cache")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--proxy-steps", type=int, default=20)
    parser.add_argument("--part", choices=["1", "2", "all"], default="all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kdnas-bench-") as tmp:
        if args.part in ("1", "all"):
            part1(args, Path(tmp))
        if args.part in ("2", "all"):
            part2(args, Path(tmp))


if __name__ == "__main__":
    main()
