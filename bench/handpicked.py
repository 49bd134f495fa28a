"""Benchmark: the search's recommendation against the students a practitioner would pick by hand (issue 11).

    .venv/bin/python bench/handpicked.py [--out bench/handpicked_run] [--budgets cpu_5x cpu_7x cpu_10x]
        [--steps 300] [--seed 0] [--table bench/strategies_run/table.sqlite] [--reuse bench/fidelity_run/ref]
        [--parallel 1] [--stage all|pick|train|evaluate|report] [--baselines-from bench/handpicked_run]
        [--search-extra latency_budget.hard=true]

Per budget, the students (``picks.json``):

- ``search``: ``search.py latency_budget=<b>`` with the default controller and settings, its shared store a copy
  of the strategies table (``--table``, copied once to ``<out>/shared.sqlite``: what the table measured is
  reused, the rest distilled, and the table itself gains nothing the default controller chose, which would
  favour it in later replays); the student is its ``best_arch.yaml``.
- ``truncated`` (DistilBERT-style): the teacher's shape with every k-th layer (``student.init=teacher`` takes
  teacher layers uniformly), the deepest that meets the budget.
- ``narrow`` (mMiniLM-like): 64-dimensional heads, an FFN of 4x the width, as deep as the space allows; the
  deepest, then the widest, that meets the budget.
- ``teacher_shaped``: the search's first seed (:func:`kdnas.nas.seeds.teacher_shaped_seeds`): the teacher's
  width, heads and activation, the deepest with the largest FFN that meets the budget.

"Meets the budget": timed beside the teacher (:func:`kdnas.latency.measure.measure_pair`, the budget's profile,
an unsteady timing repeated by the search's rule ``search.retime_cv``), at least the budget's speed-up with its
margin, as the search asks of its own candidates.

Then every distinct student is distilled alike (``train.py arch_file=... seed=<seed> trainer.max_steps=<steps>``,
the default recipe; ``--parallel N``: N side by side, one thread each) and evaluated on dev and on test, after
all trainings and one student at a time, since each evaluation times its student beside the teacher. Each report
is the one ``evaluate.py eval.split=dev|test`` writes (its command recorded), every student of a split scored
against one teacher embedding; dev goes without the undistilled baselines and intervals. Choices are made on
dev, test is reported once. A student ``bench/proxy_fidelity.py`` already distilled with the same command (its
reference: the defaults, seed 0, the same steps; ``--reuse``) is taken from there instead of distilled again.
Every stage is skipped when its output exists, so a killed run resumes. Prints a table per budget: the student,
its speed-up (the test evaluation's own timing), dev and test macro retention (test with its 95% interval) and
out-of-domain retention; writes ``handpicked.json``. ``--baselines-from <run dir>`` searches anew and takes the
hand-picked students from an earlier run (their picks, and their trainings and evaluations linked): the search's
new pick against the same students, e.g. after the default search changed.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from headline import figures, run  # one copy of the train/evaluate helpers
from proxy_fidelity import ROOT, compose

STUDENTS = ("search", "truncated", "narrow", "teacher_shaped")
EVAL_TASKS = "eval.tasks=[retrieval,langid,ood_retrieval]"
DEV_ONLY = ["eval.baselines=[]", "eval.bootstrap=0"]  # dev ranks the students; test carries the intervals


def search_pick(budget_name: str, out: Path, table: Path, extra: Sequence[str] = ()) -> Any:
    """The default search's recommendation under ``budget_name`` (its shared store a copy of ``table``; ``extra``:
    overrides of the search alone, e.g. ``latency_budget.hard=true``)."""
    from kdnas.models.arch import ArchSpec

    run_dir, shared = out / f"search_{budget_name}", out / "shared.sqlite"
    if not shared.is_file():
        shutil.copyfile(table, shared)
    if not (run_dir / "best_arch.yaml").is_file():
        run([sys.executable, "search.py", f"latency_budget={budget_name}", *extra, f"search.shared_store={shared}",
             "logger=none", f"hydra.run.dir={run_dir}"], out / f"search_{budget_name}.log")
    return ArchSpec.from_yaml(run_dir / "best_arch.yaml")


def described(chosen: dict[str, Any], timed: dict[str, float]) -> dict[str, dict[str, Any]]:
    return {name: {**a.to_dict(), "name": a.short_name, "arch_id": a.arch_id, "picked_speedup": timed.get(a.arch_id)}
            for name, a in chosen.items() if a is not None}


def pick_like(budget_name: str, out: Path, table: Path, like: Path, extra: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """The search's pick searched anew; the hand-picked students of ``like``'s ``picks.json`` (their trainings and
    evaluations linked from there: the same students, distilled and scored once)."""
    before = json.loads((like / "picks.json").read_text())[budget_name]
    picks = {**{k: v for k, v in before.items() if k != "search"}, **described({"search": search_pick(
        budget_name, out, table, extra)}, {})}
    for who, a in picks.items():
        for folder in ((f"train_{a['name']}", f"eval_dev_{a['name']}", f"eval_test_{a['name']}") if who != "search" else ()):
            if (like / folder).exists() and not (out / folder).exists():
                (out / folder).symlink_to(like / folder)
    return picks


def pick(budget_name: str, out: Path, table: Path, extra: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """The four students of one budget (see the module docstring), as arch dicts."""
    import hydra

    from kdnas.latency.measure import measure_latency
    from kdnas.models.arch import ArchSpec
    from kdnas.nas.seeds import teacher_shaped_seeds, untrained_ms

    cfg = compose([f"latency_budget={budget_name}"])
    teacher = hydra.utils.instantiate(cfg.teacher)
    budget = hydra.utils.instantiate(cfg.latency_budget)
    space = hydra.utils.instantiate(cfg.search_space, _convert_="all")
    assert budget.speedup is not None, "the presets give a speed-up"
    needed = budget.speedup * (1 + budget.margin)
    t = teacher.model.config
    timed: dict[str, float] = {}
    # the seeds' own timing (untrained, beside the teacher, re-timed by the search's rule), on a 1 ms teacher
    relative_ms = untrained_ms(teacher.model, budget, 1.0, cfg.search.retime_cv, cfg.search.retimes)

    def speedup(arch: ArchSpec) -> float:
        if arch.arch_id not in timed:
            timed[arch.arch_id] = 1.0 / relative_ms(arch)
        return timed[arch.arch_id]

    def first_fit(archs: list[ArchSpec]) -> ArchSpec | None:
        return next((a for a in archs if a in space and speedup(a) >= needed), None)

    depths = sorted(set(space.num_hidden_layers), reverse=True)
    truncated = first_fit([ArchSpec(d, t.hidden_size, t.num_attention_heads, t.intermediate_size, t.hidden_act)
                           for d in depths])
    widths = sorted((h for h in space.hidden_size if h // 64 in space.num_attention_heads
                     and 4 * h in space.intermediate_size), reverse=True)
    narrow = first_fit([ArchSpec(d, h, h // 64, 4 * h, "gelu") for d in depths for h in widths])
    teacher_ms = measure_latency(teacher.model, budget.profile).median_ms
    seeds = teacher_shaped_seeds(space, teacher.model, budget, teacher_ms, limit=1)

    chosen = {"search": search_pick(budget_name, out, table, extra), "truncated": truncated, "narrow": narrow,
              "teacher_shaped": seeds[0] if seeds else None}
    return described(chosen, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "handpicked_run")
    parser.add_argument("--budgets", nargs="+", default=["cpu_5x", "cpu_7x", "cpu_10x"])
    parser.add_argument("--steps", type=int, default=300, help="distillation steps (the fidelity references')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", type=Path, default=ROOT / "bench" / "strategies_run" / "table.sqlite")
    parser.add_argument("--reuse", type=Path, default=ROOT / "bench" / "fidelity_run" / "ref",
                        help="bench/proxy_fidelity.py's references: a student distilled there alike is reused")
    parser.add_argument("--parallel", type=int, default=1, help="trainings at a time (evaluations run alone)")
    parser.add_argument("--stage", choices=["all", "pick", "train", "evaluate", "report"], default="all")
    parser.add_argument("--baselines-from", type=Path, default=None,
                        help="another run directory of this benchmark: its hand-picked students (picks, trainings and "
                             "evaluations, linked) beside this run's search, e.g. after the default search changed")
    parser.add_argument("--search-extra", nargs="*", default=[], help="overrides of the search alone, e.g. "
                        "latency_budget.hard=true (the students are distilled and scored alike either way)")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    picks_file = out / "picks.json"
    picks: dict[str, dict[str, Any]] = json.loads(picks_file.read_text()) if picks_file.is_file() else {}
    if args.stage in ("all", "pick"):
        for b in args.budgets:
            if b not in picks:
                picks[b] = (pick_like(b, out, args.table.resolve(), args.baselines_from.resolve(), args.search_extra)
                            if args.baselines_from else pick(b, out, args.table.resolve(), args.search_extra))
                picks_file.write_text(json.dumps(picks, indent=2))
    archs = {a["arch_id"]: a for b in args.budgets for a in picks.get(b, {}).values()}
    train_dirs = {i: reused(args, i) or out / f"train_{a['name']}" for i, a in archs.items()}
    if args.stage in ("all", "train"):
        train_all(args, out, archs, train_dirs)
    if args.stage in ("all", "evaluate"):
        evaluate_all(out, archs, train_dirs)
    report(out, args, picks)


def train_all(args: argparse.Namespace, out: Path, archs: dict[str, dict[str, Any]],
              train_dirs: dict[str, Path]) -> None:
    """Distil every student not yet distilled into its ``train_dirs`` folder (``--parallel`` at a time, one
    thread each when more than one)."""
    from kdnas.models.arch import FIELDS, ArchSpec

    def train(a: dict[str, Any]) -> None:
        arch_file = out / "archs" / f"{a['name']}.yaml"
        if not arch_file.is_file():
            ArchSpec.from_dict({k: a[k] for k in FIELDS}).to_yaml(arch_file)
        train_dir = train_dirs[a["arch_id"]]
        if not (train_dir / "summary.json").is_file():
            run([sys.executable, "train.py", f"arch_file={arch_file}", f"seed={args.seed}",
                 f"trainer.max_steps={args.steps}", f"trainer.val_check_interval={args.steps}", "logger=csv",
                 f"hydra.run.dir={train_dir}"], out / f"train_{a['name']}.log",
                threads=1 if args.parallel > 1 else None)

    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        list(pool.map(train, archs.values()))


def evaluate_all(out: Path, archs: dict[str, dict[str, Any]], train_dirs: dict[str, Path]) -> None:
    """Every student on dev (retention only) then on test (with the undistilled baselines and intervals), each
    split in one process with one teacher embedding (:func:`kdnas.pipelines.evaluate.evaluate_student`); the report
    is the one ``evaluate.py`` with the recorded command would write."""
    import torch

    from kdnas.pipelines.evaluate import comparison_from_config, evaluate_student

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for split, extra in (("dev", DEV_ONLY), ("test", [])):
        todo = [(a, train_dirs[i] / "student") for i, a in archs.items()
                if not (out / f"eval_{split}_{a['name']}" / "report.json").is_file()]
        if missing := [a["name"] for a, student in todo if not student.is_dir()]:
            sys.exit(f"not distilled yet: {', '.join(missing)}: run --stage train first")
        if not todo:
            continue
        overrides = [f"eval.split={split}", EVAL_TASKS, *extra]
        cfg = compose(overrides, config_name="evaluate")
        torch.manual_seed(int(cfg.seed))
        comparison = comparison_from_config(cfg)
        for a, student in todo:
            print(f"evaluating {a['name']} on {split}", flush=True)
            evaluate_student(student, comparison, out / f"eval_{split}_{a['name']}",
                             command=["evaluate.py", f"student={student}", *overrides])


def reused(args: argparse.Namespace, arch_id: str) -> Path | None:
    """The fidelity reference of ``arch_id`` when it was distilled exactly as this benchmark distils (the train
    defaults, seed 0, ``--steps``) and has finished; None otherwise."""
    ref = args.reuse.resolve() / arch_id
    overrides = ref / ".hydra" / "overrides.yaml"
    if args.seed != 0 or not (ref / "summary.json").is_file() or not (ref / "student").is_dir() or not overrides.is_file():
        return None
    given = {line.strip().removeprefix("- ") for line in overrides.read_text().splitlines()}
    same = {f"trainer.max_steps={args.steps}", f"trainer.val_check_interval={args.steps}", "logger=csv"}
    others = {g for g in given if not g.startswith(("arch_file=", "hydra.run.dir="))}
    return ref if others == same else None


def cell(fig: dict[str, dict[str, float | None]], split: str, key: str) -> str:
    value = fig.get(split, {}).get(key)
    return "–" if value is None else f"{value:.3f}"


def report(out: Path, args: argparse.Namespace, picks: dict[str, dict[str, Any]]) -> None:
    """One table per budget (see the module docstring); a student "meets" the budget when both evaluations timed
    it at least the budget's speed-up (no margin: the margin is the search's)."""
    results: dict[str, Any] = {"steps": args.steps, "seed": args.seed, "budgets": {}}
    for b in args.budgets:
        rows = {}
        needed = float(compose([f"latency_budget={b}"]).latency_budget.speedup)
        print(f"\n{b} (>= {needed:g}x)\n\n| student | architecture | speed-up dev / test | meets | dev retention | "
              "test retention [95%] | test OOD | test gain over untrained |")
        print("|---|---|---:|---|---:|---:|---:|---:|")
        for who in STUDENTS:
            if (a := picks.get(b, {}).get(who)) is None:
                print(f"| {who} | none meets the budget | | | | | | |")
                continue
            reports = {s: out / f"eval_{s}_{a['name']}" / "report.json" for s in ("dev", "test")}
            done = {s: json.loads(p.read_text()) for s, p in reports.items() if p.is_file()}
            fig = {s: figures(r) for s, r in done.items()}
            interval = (done.get("test", {}).get("intervals", {}).get("retention") or {}).get("macro")
            speeds = [v for f in fig.values() if (v := f.get("speedup_128")) is not None]
            meets = bool(speeds) and min(speeds) >= needed
            rows[who] = {"arch": a, **{f"{s}_figures": f for s, f in fig.items()}, "test_interval": interval,
                         "meets": meets if speeds else None}

            ci = f" [{interval[0]:.3f}, {interval[1]:.3f}]" if isinstance(interval, list | tuple) else ""
            timed = " / ".join(f"{cell(fig, s, 'speedup_128')}x" for s in ("dev", "test"))
            print(f"| {who} | {a['name']} | {timed} | {('yes' if meets else 'no') if speeds else '–'} | "
                  f"{cell(fig, 'dev', 'retention_macro')} | {cell(fig, 'test', 'retention_macro')}{ci} | "
                  f"{cell(fig, 'test', 'retention_ood')} | {cell(fig, 'test', 'gain_untrained')} |")
        results["budgets"][b] = rows
    (out / "handpicked.json").write_text(json.dumps(results, indent=2, default=str))

if __name__ == "__main__":
    main()
