"""Benchmark: search strategies compared on a replayable table of measured architectures (NAS-Bench style).

    .venv/bin/python bench/search_strategies.py [--out bench/strategies_run] [--stage all|fill|retime|replay|report]
        [--fill 400 | --fill-like bench/strategies_run] [--fill-k 10] [--parallel 1] [--controllers lstm mlp random evolution] [--seeds 20]
        [--budgets cpu_3x cpu_5x cpu_7x cpu_10x] [--seeding ts2+ss1 ts0] [--episodes 10] [--k 4] [--tiny]

Stage 1 (fill): ordinary searches (``controller=random``, the default proxy setting) into one store,
``<out>/table.sqlite`` (``search.shared_store``). The store is keyed by the setting (teacher, data, distillation,
latency profile, ``search.seed``), not by the budget or the space, so: first a search over the teacher-shaped
sub-space (``search_space.hidden_size=[<teacher's>]`` ..., every teacher-shaped architecture of the space: what
the teacher-shaped seeds of a replay choose from) and ``--parallel`` random searches of the whole space, run
``--parallel`` at a time
(``controller.seed=<i>``, ``search.seed`` left at the table's), topped up until the table holds ``--fill``
architectures of the space. Each search resumes from its own ``search.sqlite`` (nothing distils twice), so a
killed fill resumes and a larger ``--fill`` extends it.

Stage 1, paired (``--fill-like <run dir>``): instead of random searches, exactly the architectures of another run
directory's table, measured under this run's setting (``--extra``, e.g. ``search.proxy_objective=knn``) as a search
measures its candidates (:func:`kdnas.pipelines.search.measure_architectures`), in ``--parallel`` round-robin
shards, each its own process resuming from its own store: two tables of one sample of the space, which differ only
in the setting (and in their timings' noise).

Stage 1b (retime): the table's readings whose spread exceeds ``search.retime_cv`` timed again by the search's own
rule and replaced in place (:func:`retime`; the fill ran two searches at a time, so some timings were disturbed).

Stage 2 (replay): ``search.py -m search.replay=true controller=<c> latency_budget=<b> search.teacher_shaped_seeds=<z>
search.size_seeds=<n> search.seed=<pending seeds>`` for every controller, budget and seeding (``--seeding``:
``ts2+ss1`` = the default search's two teacher-shaped seeds and one size seed, ``ts0`` = none; a label without
``+ss`` has no size seed, as the runs before size seeds existed; one multirun each, seeds with a
finished run skipped; ``search.replay_seed`` keeps the table's seed, so ``search.seed`` seeds the controller).
Each run's ``candidates.csv`` gives the best reward after each number of evaluations (feasible candidates only,
0 before the first) and its regret against the table's best under the budget; median and IQR over seeds per
budget, a figure with bands (``strategies.png``) and a table, with the training-free pick (the largest
non-embedding parameter count whose table latency meets the budget) as a line. Writes ``strategies.json``.

A budget is a ``latency_budget`` preset (``cpu_7x``) or a speed-up (``2x``: ``latency_budget.speedup=2`` on the
configured preset; ``--tiny`` uses these, since experiment=tiny sets its own budget).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_fidelity import ROOT, TINY, compose, run  # one copy of the bench helpers

#: a table reading with a larger coefficient of variation counts as unsteady in the report's second best
STEADY_CV = 0.25


def budget_overrides(spec: str) -> list[str]:
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)x", spec):
        return [f"latency_budget.speedup={m.group(1)}", f"latency_budget.name=speedup_{spec}"]
    return [f"latency_budget={spec}"]


def read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


class Fill:
    """Stage 1: the plan of fill searches (``fill/plan.json``) and the table they write."""

    def __init__(self, args: argparse.Namespace, out: Path, base: list[str]) -> None:
        import hydra

        self.args, self.out, self.base = args, out, base
        self.table = out / "table.sqlite"
        self.plan_file = out / "fill" / "plan.json"
        self.plan: dict[str, dict[str, Any]] = read(self.plan_file) or {}
        cfg = compose(base)
        self.space = hydra.utils.instantiate(cfg.search_space, _convert_="all")
        self.ids = {a.arch_id for a in self.space.all_valid()}
        if not self.plan and args.fill_like:
            archs = sorted(table_archs(args.fill_like.resolve()), key=lambda a: a.arch_id)
            for i in range(args.parallel):  # round-robin shards: each gets large and small students alike
                self.plan[f"like_{i}"] = {"like": str(args.fill_like.resolve()),
                                          "archs": [a.to_dict() for a in archs[i::args.parallel]]}
            self.save()
        if not any(n.startswith("like_") for n in self.plan) and "teacher_shaped" not in self.plan:
            t = hydra.utils.instantiate(cfg.teacher).model.config
            shape = (t.hidden_size, t.num_attention_heads, t.hidden_act)
            n = sum((a.hidden_size, a.num_attention_heads, a.hidden_act) == shape for a in self.space.all_valid())
            self.plan["teacher_shaped"] = {"shape": list(shape), "archs": n, "episodes": math.ceil(n / args.fill_k)}
            per_shard = math.ceil(max(0, args.fill - n) / (args.parallel * args.fill_k))
            for i in range(args.parallel):
                self.plan[f"random_{i}"] = {"seed": i, "episodes": per_shard}
            self.save()

    def save(self) -> None:
        self.plan_file.parent.mkdir(parents=True, exist_ok=True)
        self.plan_file.write_text(json.dumps(self.plan, indent=2))

    def measure_shard(self, name: str) -> None:
        """One shard of a paired fill (``--fill-like``), in its own process (resumes from its run store)."""
        if (self.out / "fill" / name / "summary.json").is_file():
            return
        wall = run([sys.executable, __file__, "--out", str(self.out), "--parallel", str(self.args.parallel),
                    "--measure-shard", name, "--extra", *self.args.extra], self.out / "fill" / f"{name}.log")
        self.plan[name]["wall_s"] = self.plan[name].get("wall_s", 0.0) + wall
        self.save()

    def search(self, name: str) -> None:
        """Run (or resume, or extend) one fill search; skipped when it finished with its planned episodes."""
        entry, run_dir = self.plan[name], self.out / "fill" / name
        if (entry.get("done") == entry["episodes"] and (run_dir / "summary.json").is_file()) or not entry["episodes"]:
            return
        if name == "teacher_shaped":
            h, a, act = entry["shape"]
            which = [f"search_space.hidden_size=[{h}]", f"search_space.num_attention_heads=[{a}]",
                     f"search_space.hidden_act=[{act}]"]
        else:
            which = [f"controller.seed={entry['seed']}"]
        wall = run([sys.executable, "search.py", *self.base, "controller=random", *which, "search.teacher_shaped_seeds=0",
                    f"search.episodes={entry['episodes']}", f"search.candidates_per_episode={self.args.fill_k}",
                    f"search.shared_store={self.table}", "logger=none", f"hydra.run.dir={run_dir}"],
                   self.out / "fill" / f"{name}.log")
        entry["wall_s"] = entry.get("wall_s", 0.0) + wall
        if (run_dir / "summary.json").is_file():
            entry["done"] = entry["episodes"]
        self.save()

    def setting(self) -> str | None:
        for name in self.plan:
            if summary := read(self.out / "fill" / name / "summary.json"):
                return str(summary["setting"])
        return None

    def measurements(self) -> list[Any]:
        from kdnas.nas.store import CandidateStore

        key = self.setting()
        if key is None or not self.table.is_file():
            return []
        return [m for m in CandidateStore(self.table).measurements(key) if m.arch.arch_id in self.ids]

    def run(self) -> None:
        if shards := [n for n in self.plan if n.startswith("like_")]:  # a paired fill: another table's architectures
            with ThreadPoolExecutor(max_workers=self.args.parallel) as pool:
                list(pool.map(self.measure_shard, shards))
            walls = [m.wall_seconds for m in self.measurements()]
            print(f"table: {len(walls)} architectures (those of {self.plan[shards[0]]['like']}); per architecture "
                  f"median {np.median(walls):.1f} s, total {sum(walls):.0f} s", flush=True)
            return
        # the teacher-shaped search is one more job of the pool: with --parallel 2 it runs beside random_0
        jobs = ["teacher_shaped"] if self.plan["teacher_shaped"]["archs"] else []
        jobs += [n for n in self.plan if n.startswith("random_")]
        with ThreadPoolExecutor(max_workers=self.args.parallel) as pool:
            list(pool.map(self.search, jobs))
        have = len(self.measurements())
        while have < min(self.args.fill, len(self.ids)):  # shards overlap: top up the first one
            self.plan["random_0"]["episodes"] += math.ceil((self.args.fill - have) / self.args.fill_k)
            self.save()
            self.search("random_0")
            before, have = have, len(self.measurements())
            if have == before:
                sys.exit(f"fill: no new architecture in {self.out / 'fill' / 'random_0.log'}; the table holds {have}")
        walls = [m.wall_seconds for m in self.measurements()]
        print(f"table: {have} architectures of {len(self.ids)}; per architecture (distil + time) median "
              f"{np.median(walls):.1f} s, total {sum(walls):.0f} s; fill searches "
              f"{sum(e.get('wall_s', 0) for e in self.plan.values() if isinstance(e, dict)):.0f} s", flush=True)


def table_archs(out: Path) -> list[Any]:
    """The architectures the table of another run directory holds under its fill setting."""
    from kdnas.nas.store import CandidateStore

    settings = {str(summary["setting"]) for f in sorted((out / "fill").glob("*/summary.json")) if (summary := read(f))}
    if len(settings) != 1 or not (out / "table.sqlite").is_file():
        sys.exit(f"--fill-like {out}: no finished fill with one setting there (found {len(settings)} settings)")
    return [m.arch for m in CandidateStore(out / "table.sqlite").measurements(settings.pop())]


def measure_shard(out: Path, base: list[str], fill: Fill, name: str) -> None:
    """A paired fill's shard: its architectures measured as a search of ``base`` measures its candidates
    (:func:`kdnas.pipelines.search.measure_architectures`) into the table; its run store resumes it."""
    from kdnas.models.arch import ArchSpec
    from kdnas.pipelines.search import measure_architectures

    run_dir = out / "fill" / name
    cfg = compose([*base, f"search.shared_store={fill.table}", "logger=none", f"paths.output_dir={run_dir}"])
    specs = [ArchSpec.from_dict(a) for a in fill.plan[name]["archs"]]
    setting, found = measure_architectures(cfg, specs, run_dir)
    failed = sum(not m.ok for m in found)
    (run_dir / "summary.json").write_text(json.dumps({"setting": setting, "archs": len(found), "failed": failed}))


def retime(out: Path, base: list[str], fill: Fill) -> None:
    """Stage 1b: the table's unsteady readings timed again by the search's rule (``search.retime_cv``).

    A stored reading whose coefficient of variation exceeds ``search.retime_cv`` is timed again beside the teacher
    (a freshly built student of its architecture: latency does not depend on the weights), up to
    ``search.retimes`` times, stopping at the first steady timing; the steadiest replaces it in place when steadier
    than the stored one, on the table's teacher scale. The readings before and after are kept in
    ``retimed.json``, which also makes a killed stage resume."""
    import dataclasses

    import hydra

    from kdnas.latency.measure import measure_pair, pair_spread, steadiest
    from kdnas.models.student import build_student
    from kdnas.nas.replay import ReplayTable
    from kdnas.nas.store import CandidateStore
    from kdnas.pipelines.common import load_corpus, load_teacher, resolve_latency_profile
    from kdnas.pipelines.search import proxy_datamodule, setting

    key = fill.setting()
    cfg = compose([*base, f"search.shared_store={fill.table}"])
    max_cv, retimes = cfg.search.retime_cv, int(cfg.search.retimes)
    todo = [m for m in fill.measurements() if m.ok and max_cv is not None and m.latency_cv > max_cv]
    log_file = out / "retimed.json"
    done: dict[str, Any] = read(log_file) or {}
    if key is None or not (todo := [m for m in todo if m.arch.arch_id not in done]) or not retimes:
        print(f"retime: {len(done)} readings re-timed before, none left above cv {max_cv}", flush=True)
        return
    teacher, corpus = load_teacher(cfg), load_corpus(cfg)
    dm = proxy_datamodule(cfg, corpus, teacher)
    budget = resolve_latency_profile(hydra.utils.instantiate(cfg.latency_budget), teacher, dm.corpus)
    if setting(cfg, teacher, dm, budget) != key:
        sys.exit(f"retime: these overrides ({base}) do not give the table's setting {key}: pass the fill's --extra")
    store = CandidateStore(fill.table)
    teacher_ms = ReplayTable.load(store, key).teacher_ms
    for m in todo:
        student = build_student(m.arch, teacher.model, init="random")
        pair, taken = steadiest(lambda s=student: measure_pair(s, teacher.model, budget.profile),
                                pair_spread, max_cv, retimes - 1)
        entry = {"name": m.arch.short_name, "before": {"speedup": m.paired_speedup, "cv": m.latency_cv},
                 "after": {"speedup": pair.speedup, "cv": pair.student.cv, "teacher_cv": pair.teacher.cv,
                           "timings": taken}, "replaced": pair_spread(pair) < m.latency_cv}
        if entry["replaced"]:
            scale = teacher_ms / pair.speedup / pair.student.median_ms  # onto the table's teacher time
            store.replace(key, dataclasses.replace(
                m, latency_median_ms=pair.student.median_ms * scale, latency_p90_ms=pair.student.p90_ms * scale,
                latency_cv=pair.student.cv, paired_speedup=pair.speedup))
        done[m.arch.arch_id] = entry
        log_file.write_text(json.dumps(done, indent=2))
        print(f"retime {m.arch.short_name}: {m.paired_speedup:.2f}x (cv {m.latency_cv:.2f}) -> {pair.speedup:.2f}x "
              f"(cv {pair.student.cv:.2f}, teacher {pair.teacher.cv:.2f}, {taken} timings)"
              f"{'' if entry['replaced'] else ', kept the stored one'}", flush=True)


def variant(spec: str) -> tuple[str, list[str]]:
    """``lstm`` -> (``lstm``, [``controller=lstm``]); ``random:latency_filter=0.1,pool_size=50`` -> the
    ``random`` group with ``controller.latency_filter=0.1 controller.pool_size=50`` (an ablation)."""
    name, _, extra = spec.partition(":")
    return name, [f"controller={name}", *(f"controller.{o}" for o in extra.split(",") if o)]


def seeding(label: str) -> list[str]:
    """``ts2+ss1`` -> two teacher-shaped seeds and one size seed (the default search); ``ts0``: none of either."""
    if not (m := re.fullmatch(r"ts(\d+)(?:\+ss(\d+))?", label)):
        sys.exit(f"--seeding {label}: use ts<teacher-shaped seeds>[+ss<size seeds>], e.g. ts2+ss1 or ts0")
    return [f"search.teacher_shaped_seeds={m.group(1)}", f"search.size_seeds={m.group(2) or 0}"]


def group_dir(out: Path, controller: str, budget: str, label: str) -> Path:
    return out / "replay" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '+', controller)}_{budget}_{label}"


def replay(args: argparse.Namespace, out: Path, base: list[str], table: Path) -> None:
    """Stage 2: one multirun per controller x budget x seed switch, over the seeds not yet replayed."""
    cfg = compose(base).search
    if "replay" not in cfg:
        sys.exit("search.replay is not in conf/search/default.yaml yet: stage 2 needs it")
    seed_key = "search.seed" if "replay_seed" in cfg else "controller.seed"  # the table keeps search.seed's key
    started = time.time()
    for c in args.controllers:
        for b in args.budgets:
            for z in args.seeding:
                where = group_dir(out, c, b, z)
                pending = [s for s in range(args.seeds) if not (where / f"s{s}" / "summary.json").is_file()]
                if not pending:
                    continue
                where.mkdir(parents=True, exist_ok=True)
                run([sys.executable, "search.py", "-m", *base, "search.replay=true", *variant(c)[1],
                     *budget_overrides(b), *seeding(z), f"{seed_key}={','.join(map(str, pending))}",
                     f"search.episodes={args.episodes}", f"search.candidates_per_episode={args.k}",
                     f"search.shared_store={table}", "logger=none", f"hydra.sweep.dir={where}",
                     f"hydra.sweep.subdir=s${{{seed_key}}}"], where / f"multirun_{int(time.time())}.log")
    print(f"replays: {time.time() - started:.0f} s", flush=True)


def curve(run_dir: Path, n: int, rewards: dict[str, float]) -> tuple[list[float], float] | None:
    """Best feasible reward after each of the first ``n`` evaluations of a run (0 before the first feasible one),
    each candidate scored from the table (``rewards``: arch id -> reward, 0 if infeasible or failed), and the
    largest difference from the run's own ``candidates.csv`` rewards (rounded to 5 digits there)."""
    if not (run_dir / "candidates.csv").is_file():
        return None
    with open(run_dir / "candidates.csv") as handle:
        rows = list(csv.DictReader(handle))
    got = [rewards.get(r["arch_id"], 0.0) for r in rows]
    own = [float(r["reward"]) if r["status"] == "ok" and r["reward"] else 0.0 for r in rows]
    best = list(np.maximum.accumulate(got)) if got else [0.0]
    return (best + [best[-1]] * n)[:n], max((abs(a - b) for a, b in zip(got, own, strict=True)), default=0.0)


def report(args: argparse.Namespace, out: Path, base: list[str], fill: Fill) -> None:
    """Regret curves, the table, the figure and ``strategies.json`` from what is on disk."""
    import hydra

    from kdnas.models.arch import ArchSpec
    from kdnas.nas.results import score

    table = [m for m in fill.measurements() if m.ok]
    t = hydra.utils.instantiate(compose(base).teacher).model.config  # the multiply-add bound of a reading
    teacher_macs = ArchSpec.of_config(t).multiply_adds_per_token(128)
    n = args.episodes * args.k
    checkpoints = sorted({c for c in (args.k, 5, 10, 20, 40, n) if c <= n})
    results: dict[str, Any] = {"table_size": len(fill.measurements()), "evaluations": n, "budgets": {}}
    for b in args.budgets:
        summaries = [read(group_dir(out, c, b, z) / f"s{s}" / "summary.json") for c in args.controllers
                     for z in args.seeding for s in range(args.seeds)]
        summaries = [s for s in summaries if s]
        if not summaries or not table:
            continue
        teacher_ms = float(summaries[0]["teacher_latency_ms"])  # the replays' (the table's median side-by-side)
        budget = hydra.utils.instantiate(compose([*base, *budget_overrides(b)]).latency_budget)
        scored = [score(m, budget, teacher_ms, 0) for m in table]
        feasible = [c for c in scored if c.feasible]
        if not feasible:
            print(f"{b}: no architecture of the table meets the budget")
            continue
        winner = max(feasible, key=lambda c: c.reward)
        top = winner.reward
        bound = teacher_macs / winner.arch.multiply_adds_per_token(128)
        # a reading with a large spread (the fill ran two searches at once) may be an outlier: the best of the rest
        steady = max((c for c in feasible if c.measurement.latency_cv <= STEADY_CV), key=lambda c: c.reward)
        rewards = {c.arch.arch_id: c.reward if c.feasible else 0.0 for c in scored}
        # heads and activation do not change the count: the pick is any of the largest, so its regret is their mean
        largest = max(c.measurement.parameters_without_embeddings for c in feasible)
        tied = [c for c in feasible if c.measurement.parameters_without_embeddings == largest]
        free = max(tied, key=lambda c: c.reward)
        with_params = spearmanr([c.reward for c in feasible],
                                [c.measurement.parameters_without_embeddings for c in feasible]).statistic
        entry: dict[str, Any] = {"teacher_ms": teacher_ms, "table_best": top, "feasible": len(feasible),
                                 "best_arch": winner.arch.short_name,
                                 "best_timing": {"speedup": winner.speedup, "cv": winner.measurement.latency_cv,
                                                 "multiply_add_bound": bound},
                                 "training_free": {"arch": free.arch.short_name, "tied": len(tied),
                                                   "reward": float(np.mean([c.reward for c in tied])),
                                                   "regret": top - float(np.mean([c.reward for c in tied])),
                                                   "regret_range": [top - free.reward,
                                                                    top - min(c.reward for c in tied)]},
                                 "spearman_reward_params": float(with_params),
                                 "steady_best": {"arch": steady.arch.short_name, "reward": steady.reward},
                                 "groups": {}}
        for c in args.controllers:
            for z in args.seeding:
                found = [cv for s in range(args.seeds) if (cv := curve(group_dir(out, c, b, z) / f"s{s}", n, rewards))]
                if not found:
                    continue
                curves = [cv for cv, _ in found]
                if (drift := max(d for _, d in found)) > 1e-4:
                    print(f"warning: {c} {z} {b}: a candidates.csv reward differs from the table's by {drift:.2g}")
                regret = top - np.asarray(curves)
                q1, med, q3 = np.percentile(regret, [25, 50, 75], axis=0)
                entry["groups"][f"{c} {z}"] = {
                    "controller": c, "seeding": z, "seeds": len(curves), "median": med.tolist(),
                    "q1": q1.tolist(), "q3": q3.tolist(), "found_best": float(np.mean(regret[:, -1] <= 1e-9)),
                    "best_reward_median": float(np.median(np.asarray(curves)[:, -1])), "curves": curves,
                    "found_steady_best": float(np.mean(np.asarray(curves)[:, -1] >= steady.reward - 1e-9))}
        for z in args.seeding:  # the target: random search's final best (median), in how many evaluations
            if (plain := entry["groups"].get(f"random {z}")) is None:
                continue
            goal = plain["best_reward_median"]
            for g in (g for g in entry["groups"].values() if g["seeding"] == z):
                reached = [next((i + 1 for i, r in enumerate(cv) if r >= goal - 1e-12), math.inf) for cv in g["curves"]]
                g["to_random_best"] = float(np.median(reached))
        for g in entry["groups"].values():
            del g["curves"]
        results["budgets"][b] = entry
        print(f"\n{b}: table best {top:.4f} ({entry['best_arch']}, timed at {winner.speedup:.2f}x with cv "
              f"{winner.measurement.latency_cv:.2f}, its multiply-adds allow {bound:.2f}x; {len(feasible)} of "
              f"{len(table)} meet the budget; their "
              f"rewards rank with the non-embedding parameter count at Spearman {with_params:.2f}); regret median "
              f"[IQR] after each number of evaluations; the best with a steady timing (cv <= {STEADY_CV}): "
              f"{steady.arch.short_name} {steady.reward:.4f}\n")
        print("| strategy | seeds | " + " | ".join(f"{k}" for k in checkpoints)
              + " | found best | found the steady best | evaluations to random's final best |")
        print("|---|---:|" + "---|" * len(checkpoints) + "---:|---:|---:|")
        for name, g in entry["groups"].items():
            cells = [f"{g['median'][k - 1]:.4f} [{g['q1'][k - 1]:.4f}, {g['q3'][k - 1]:.4f}]" for k in checkpoints]
            print(f"| {name} | {g['seeds']} | " + " | ".join(cells)
                  + f" | {g['found_best']:.2f} | {g['found_steady_best']:.2f} | {g.get('to_random_best', math.nan):g} |")
        tf = entry["training_free"]
        pick = tf["arch"] if tf["tied"] == 1 else (f"{tf['tied']} tied at the largest count, mean; "
                                                   f"{tf['regret_range'][0]:.4f}-{tf['regret_range'][1]:.4f}")
        print(f"| training-free ({pick}) | – | " + " | ".join([f"{tf['regret']:.4f}"] * len(checkpoints))
              + " | | | |")
    (out / "strategies.json").write_text(json.dumps(results, indent=2))
    if results["budgets"]:
        figure(results, args, out / "strategies.png")
    print(f"\n{out / 'strategies.json'}")


def figure(results: dict[str, Any], args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = list(results["budgets"])
    fig, axes = plt.subplots(len(args.seeding), len(budgets), squeeze=False, sharex=True,
                             figsize=(3.6 * len(budgets), 3.0 * len(args.seeding)))
    x = np.arange(1, results["evaluations"] + 1)
    for col, b in enumerate(budgets):
        entry = results["budgets"][b]
        for row, z in enumerate(args.seeding):
            ax = axes[row][col]
            for c in args.controllers:
                if g := entry["groups"].get(f"{c} {z}"):
                    (line,) = ax.step(x, g["median"], where="post", label=c)
                    ax.fill_between(x, g["q1"], g["q3"], step="post", color=line.get_color(), alpha=0.2)
            ax.axhline(entry["training_free"]["regret"], color="k", ls="--", lw=1, label="training-free")
            ax.set_title(f"{b}, seeds {z}", fontsize=9)
            ax.set_xlabel("evaluations")
            ax.set_ylabel("regret (median, IQR)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"figure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="default bench/strategies_run (--tiny: strategies_tiny_run)")
    parser.add_argument("--stage", choices=["all", "fill", "retime", "replay", "report"], default="all")
    parser.add_argument("--fill", type=int, default=None, help="architectures in the table (default 400; --tiny: 24)")
    parser.add_argument("--fill-k", type=int, default=10, help="candidates per episode of a fill search")
    parser.add_argument("--parallel", type=int, default=1, help="random fill searches at once (fixed at the first run)")
    parser.add_argument("--controllers", nargs="+", default=["lstm", "mlp", "random", "evolution"],
                        help="controller groups, each optionally with overrides: random:latency_filter=0.1")
    parser.add_argument("--seeds", type=int, default=None, help="replay seeds 0..N-1 (default 20; --tiny: 3)")
    parser.add_argument("--budgets", nargs="+", default=None, help="default cpu_3x cpu_5x cpu_7x cpu_10x; --tiny: 1.3x 2x")
    parser.add_argument("--seeding", nargs="+", default=None,
                        help="first-episode seeds per group: ts<teacher-shaped>[+ss<size seeds>] (default ts2+ss1, the "
                             "default search, and ts0, none; --tiny: ts2+ss1)")
    parser.add_argument("--episodes", type=int, default=None, help="replay episodes (default 10; --tiny: 3)")
    parser.add_argument("--k", type=int, default=None, help="replay candidates per episode (default 4; --tiny: 2)")
    parser.add_argument("--tiny", action="store_true", help="smoke mode: experiment=tiny, its space and budget")
    parser.add_argument("--extra", nargs="*", default=[], help="overrides for every search.py run")
    parser.add_argument("--fill-like", type=Path, default=None,
                        help="fill with exactly the architectures of this run directory's table (a paired table of "
                             "another setting, e.g. --extra search.proxy_objective=knn) instead of random searches")
    parser.add_argument("--measure-shard", default=None, help=argparse.SUPPRESS)  # internal: one paired-fill shard
    args = parser.parse_args()
    tiny = args.tiny
    out = (args.out or ROOT / "bench" / ("strategies_tiny_run" if tiny else "strategies_run")).resolve()
    args.fill = args.fill or (24 if tiny else 400)
    args.seeds = args.seeds or (3 if tiny else 20)
    args.budgets = args.budgets or (["1.3x", "2x"] if tiny else ["cpu_3x", "cpu_5x", "cpu_7x", "cpu_10x"])
    args.seeding = args.seeding or (["ts2+ss1"] if tiny else ["ts2+ss1", "ts0"])
    for label in args.seeding:
        seeding(label)  # a bad label: one line, before anything runs
    args.episodes = args.episodes or (3 if tiny else 10)
    args.k = args.k or (2 if tiny else 4)
    base = [*(TINY if tiny else []), *args.extra]
    out.mkdir(parents=True, exist_ok=True)
    fill = Fill(args, out, base)
    if args.measure_shard:
        measure_shard(out, base, fill, args.measure_shard)
        return
    if args.stage in ("all", "fill"):
        fill.run()
    if args.stage in ("all", "retime"):
        retime(out, base, fill)
    if args.stage in ("all", "replay"):
        replay(args, out, base, fill.table)
    report(args, out, base, fill)


if __name__ == "__main__":
    main()
