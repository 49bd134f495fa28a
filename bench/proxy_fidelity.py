"""Benchmark: does a cheap proxy rank architectures the way long distillation does? (issue 11)

    .venv/bin/python bench/proxy_fidelity.py [--out bench/fidelity_run] [--archs 16] [--ref-steps 300]
        [--proxy-steps 10 20 40 80 160] [--recipes single pairs last relation total cka knn paper] [--lr 5e-4 2e-3] [--parallel 1]
        [--only-training-free | --only-proxies] [--stop-after N] [--report] [--tiny]

1. Architectures (``archs.json``, one YAML each under ``archs/``), chosen deterministically from the search
   space (``search_space``, default ``me5_small``): teacher-shaped ones (the teacher's width, heads and
   activation: they inherit whole teacher layers), one per speed-up 2/3/5/7/10x by the rule of
   :mod:`kdnas.nas.seeds` on estimated cost (the deepest, then the largest FFN, whose multiply-adds meet the
   speed-up with a 10% margin; nothing is timed), and the rest stratified by estimated cost
   (:func:`kdnas.nas.seeds.estimated_cost`): the other architectures sorted by cost, cut into equal-count
   bins, one drawn per bin with ``--seed``.
2. Reference, per architecture: ``train.py arch_file=... trainer.max_steps=<--ref-steps>`` (the final recipe:
   the defaults, 32 translation pairs a batch on the train split), then ``evaluate.py student=... eval.split=dev
   eval.tasks=[retrieval,langid] eval.baselines=[] eval.bootstrap=0``. Reference quality: the dev macro
   retention; the final validation hidden-state loss (``summary.json``) is reported beside it.
3. Proxies: for each recipe x learning rate x proxy steps, every architecture measured exactly as a search of
   that setting measures its candidates (:func:`kdnas.pipelines.search.measure_architectures`: the proxy split,
   the teacher's outputs read from the cache, the search's Trainer, validated on the proxy-validation split),
   nothing reused from the reference; score = minus the proxy's normalised validation loss (what the reward
   uses). Recipes: ``single`` = the search's default (single texts, 32 a batch, the default distillation:
   hidden-state + sentence-relation losses; the cross-lingual loss needs pairs), ``paper`` = single texts with the
   paper's hidden-state loss alone (``distill=paper``), ``pairs`` = the final recipe's batches
   (``search.proxy_paired=true``: 32 translation pairs, every default loss), ``last`` = single texts with every
   student layer matched to the teacher's last ones (``distill.mapping=last``), ``relation`` / ``total`` = the
   default's distillation scored on the sentence-relation loss of the pooled last layer / on hidden-state loss plus
   ``distill.relation_weight`` x that, ``cka`` / ``knn`` = scored on the whole proxy-validation split's pooled
   last layers: 1 - linear CKA with the teacher's / 1 - their shared 10 nearest neighbours
   (``search.proxy_objective``). One process per proxy, its store
   ``<out>/proxy/<proxy>/search.sqlite`` beside the shared ``<out>/proxy_store.sqlite``.
   Training-free baselines: non-embedding parameters (LiteTransformerSearch) and encoder FLOPs
   (:func:`kdnas.deploy.latency_card.encoder_flops` at the budget's sequence length).

Every unit (a reference's training or evaluation, a proxy) is skipped when its output exists, and a proxy's
store resumes it, so a killed run resumes; references drop their checkpoints once evaluated. ``--only-proxies``
runs a second driver beside one running the references. Prints a markdown table: Spearman and Kendall (scipy) of
each proxy's ranking against the reference ranking, with percentile bootstrap intervals over architectures, and
the proxy's median wall seconds per architecture (distillation and timing beside the teacher, as in a search);
writes ``fidelity.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
#: the search's overrides of each proxy recipe (the search's own proxy: ``single``, its default)
RECIPES: dict[str, list[str]] = {
    "single": [],  # the proxy split's single texts, the configured distillation (no pairs: no cross-lingual loss)
    "paper": ["distill=paper"],  # single texts, the paper's hidden-state loss alone
    "pairs": ["search.proxy_paired=true"],  # the final recipe's batches: translation pairs, every default loss
    # single texts, each student layer matched to the teacher's last ones only (the layers retention reads nearest)
    "last": ["distill.mapping=last"],
    # single texts, the default distillation, scored on the pooled last layer's sentence-relation loss
    "relation": ["search.proxy_objective=relation"],
    # single texts, scored on the training objective: hidden-state loss + relation_weight x relation loss
    "total": ["search.proxy_objective=total"],
    # single texts, scored on the whole proxy-validation split's pooled last layers: 1 - linear CKA with the
    # teacher's; 1 - the shared fraction of each sentence's 10 nearest neighbours
    "cka": ["search.proxy_objective=cka"],
    "knn": ["search.proxy_objective=knn"],
}
TEACHER_SPEEDUPS = (2.0, 3.0, 5.0, 7.0, 10.0)
TINY = ["experiment=tiny"]
EVAL = ["eval.split=dev", "eval.tasks=[retrieval,langid]", "eval.baselines=[]", "eval.bootstrap=0"]


def compose(overrides: Sequence[str], config_name: str = "search") -> Any:
    """The ``config_name`` config (``search``: space, teacher, budget) under ``overrides``, in this process."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from kdnas.pipelines.schemas import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name, overrides=list(overrides))


def choose_archs(n: int, seed: int, overrides: Sequence[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``n`` architectures of the configured space (see the module docstring) and what they were chosen from."""
    import hydra

    from kdnas.models.arch import ArchSpec
    from kdnas.nas.seeds import estimated_cost

    cfg = compose(overrides)
    space = hydra.utils.instantiate(cfg.search_space, _convert_="all")
    config = hydra.utils.instantiate(cfg.teacher).model.config
    seq = cfg.latency_budget.profile.seq_len
    seq = int(seq) if isinstance(seq, int) else 128
    teacher = ArchSpec.of_config(config)
    valid = space.all_valid()
    cost = {a.arch_id: estimated_cost(a, seq) / estimated_cost(teacher, seq) for a in valid}
    shape = (teacher.hidden_size, teacher.num_attention_heads, teacher.hidden_act)
    shaped = [a for a in valid if (a.hidden_size, a.num_attention_heads, a.hidden_act) == shape]
    chosen: list[ArchSpec] = []
    for speedup in TEACHER_SPEEDUPS:  # kdnas.nas.seeds' order: deepest first, then the largest FFN
        fits = [a for a in shaped if cost[a.arch_id] <= 1 / (speedup * 1.1) and a not in chosen]
        if fits and len(chosen) < n // 3:
            chosen.append(max(fits, key=lambda a: (a.num_hidden_layers, a.intermediate_size)))
    others = sorted((a for a in valid if a not in shaped), key=lambda a: (cost[a.arch_id], a.arch_id))
    rng = np.random.default_rng(seed)
    for stratum in np.array_split(np.arange(len(others)), max(1, min(n - len(chosen), len(others)))):
        if len(stratum):
            chosen.append(others[int(rng.choice(stratum))])
    rows = [{"arch_id": a.arch_id, "name": a.short_name, **a.to_dict(), "teacher_shaped": a in shaped,
             "estimated_cost_ratio": cost[a.arch_id]} for a in chosen]
    return rows, {"space": len(valid), "teacher_shaped_in_space": len(shaped), "seq_len": seq,
                  "vocab_size": int(config.vocab_size), "teacher": teacher.short_name}


def training_free(archs: list[dict[str, Any]], info: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Predicted quality without training: larger is better."""
    from kdnas.deploy.latency_card import encoder_flops
    from kdnas.models.arch import FIELDS, ArchSpec

    specs = {a["arch_id"]: ArchSpec.from_dict({k: a[k] for k in FIELDS}) for a in archs}
    return {
        "params (non-embedding)": {i: float(s.param_count(info["vocab_size"], include_embeddings=False))
                                   for i, s in specs.items()},
        "FLOPs": {i: encoder_flops(s, 1, info["seq_len"]) for i, s in specs.items()},  # type: ignore[arg-type]
    }


def run(cmd: list[str], log: Path) -> float:
    """Run one unit, its output in ``log``; returns its wall seconds (a failure is reported, not fatal)."""
    print("$", shlex.join(cmd), flush=True)
    started = time.time()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        code = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if code:
        print(f"failed ({code}): see {log}", flush=True)
    return time.time() - started


def correlation(x: Sequence[float], y: Sequence[float], n_boot: int, seed: int) -> dict[str, Any]:
    """Spearman and Kendall of ``x`` against ``y``, with 95% percentile bootstrap intervals over the pairs.

    Resamples in which either side is constant have no correlation: they are left out of the interval (scipy's
    ``stats.bootstrap`` would return NaN for the whole interval), and counted in ``degenerate``.
    """
    out: dict[str, Any] = {"n": len(x)}
    if len(x) < 3:
        return out
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(xs), size=(n_boot, len(xs))) if len(xs) >= 4 else None
    for name, fn in (("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            out[name] = float(fn(xs, ys).statistic)
            if draws is not None and len(draws):
                values = np.array([fn(xs[i], ys[i]).statistic for i in draws], dtype=float)
                out[f"{name}_ci"] = np.nanpercentile(values, [2.5, 97.5]).tolist()
                out["degenerate"] = int(np.isnan(values).sum())
    return out


def fmt(c: dict[str, Any], key: str) -> str:
    value, ci = c.get(key), c.get(f"{key}_ci")
    if value is None or not math.isfinite(value):
        return "–"
    if ci is None or not all(math.isfinite(v) for v in ci):
        return f"{value:.2f}"
    return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="default bench/fidelity_run (--tiny: fidelity_tiny_run)")
    parser.add_argument("--archs", type=int, default=None, help="architectures (default 16; --tiny: 5)")
    parser.add_argument("--ref-steps", type=int, default=None, help="reference steps (default 300; --tiny: 20)")
    parser.add_argument("--proxy-steps", type=int, nargs="+", default=None, help="default 10 20 40 80 160; --tiny: 5")
    parser.add_argument("--recipes", nargs="+", default=["single", "pairs"], choices=list(RECIPES))
    parser.add_argument("--lr", type=float, nargs="+", default=None,
                        help="proxy learning rates, distill.lr (default 5e-4, the recipe's, and 2e-3; --tiny: 5e-4)")
    parser.add_argument("--seed", type=int, default=0, help="draws the stratified architectures")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (0: no intervals)")
    parser.add_argument("--parallel", type=int, default=1, help="units at a time, one thread each")
    parser.add_argument("--only-training-free", action="store_true", help="run the references, no proxy trainings")
    parser.add_argument("--only-proxies", action="store_true",
                        help="run the proxies, no references (a second driver beside one running the references)")
    parser.add_argument("--stop-after", type=int, default=0, help="run at most this many units (0: all)")
    parser.add_argument("--report", action="store_true", help="run nothing: the table from what is on disk")
    parser.add_argument("--measure", nargs=3, metavar=("RECIPE", "LR", "STEPS"), help=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", help="smoke mode: experiment=tiny, its space, few steps")
    parser.add_argument("--extra", nargs="*", default=[], help="overrides for every train.py / evaluate.py run")
    args = parser.parse_args()
    tiny = args.tiny
    out = (args.out or ROOT / "bench" / ("fidelity_tiny_run" if tiny else "fidelity_run")).resolve()
    n_archs = args.archs or (5 if tiny else 16)
    ref_steps = args.ref_steps or (20 if tiny else 300)
    proxy_steps = args.proxy_steps or ([5] if tiny else [10, 20, 40, 80, 160])
    args.lr = args.lr or ([5e-4] if tiny else [5e-4, 2e-3])
    base = [*(TINY if tiny else []), *args.extra]
    out.mkdir(parents=True, exist_ok=True)

    archs_file = out / "archs.json"
    if archs_file.is_file():
        saved = json.loads(archs_file.read_text())
        archs, info = saved["archs"], saved["info"]
    else:
        archs, info = choose_archs(n_archs, args.seed, base)
        (out / "archs").mkdir(exist_ok=True)
        for a in archs:
            (out / "archs" / f"{a['arch_id']}.yaml").write_text(
                "".join(f"{k}: {a[k]}\n" for k in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                                   "intermediate_size", "hidden_act")))
        archs_file.write_text(json.dumps({"archs": archs, "info": info, "overrides": base}, indent=2))
    print(f"{len(archs)} architectures ({sum(a['teacher_shaped'] for a in archs)} teacher-shaped) of "
          f"{info['space']}: {', '.join(a['name'] for a in archs)}", flush=True)

    py = sys.executable
    if args.measure:
        recipe, lr, steps = args.measure
        measure(out, archs, base, recipe, float(lr), int(steps))
        return

    def arch_file(a: dict[str, Any]) -> str:
        return f"arch_file={out / 'archs' / (a['arch_id'] + '.yaml')}"

    def reference(a: dict[str, Any]) -> list[tuple[Path, Callable[[], None]]]:
        """The reference's units: (output that marks it done, how to make it)."""
        train_dir, eval_dir = out / "ref" / a["arch_id"], out / "ref" / a["arch_id"] / "eval_dev"

        def train() -> None:
            run([py, "train.py", arch_file(a), f"trainer.max_steps={ref_steps}", f"trainer.val_check_interval={ref_steps}",
                 "logger=csv", *base, f"hydra.run.dir={train_dir}"], out / "ref" / f"{a['arch_id']}_train.log")

        def evaluate() -> None:
            run([py, "evaluate.py", f"student={train_dir / 'student'}", *EVAL, *base, f"hydra.run.dir={eval_dir}"],
                out / "ref" / f"{a['arch_id']}_eval.log")
            if (eval_dir / "report.json").is_file():
                shutil.rmtree(train_dir / "checkpoints", ignore_errors=True)  # done: no resume needed

        return [(train_dir / "summary.json", train), (eval_dir / "report.json", evaluate)]

    def proxy_dir(recipe: str, lr: float, steps: int) -> Path:
        return out / "proxy" / f"{recipe}_lr{lr:g}_s{steps}"

    def proxy(recipe: str, lr: float, steps: int) -> list[tuple[Path, Callable[[], None]]]:
        """One proxy: every architecture measured by the search's own evaluator in one process."""
        run_dir = proxy_dir(recipe, lr, steps)

        def measure() -> None:
            run([py, __file__, "--out", str(out), "--measure", recipe, f"{lr:g}", str(steps), "--extra", *args.extra,
                 *(["--tiny"] if tiny else [])], run_dir.parent / f"{run_dir.name}.log")

        return [(run_dir / "done.json", measure)]

    chains = [] if args.only_proxies else [reference(a) for a in archs]
    if not args.only_training_free:  # cheapest proxies first: a short session still completes whole columns
        chains += [proxy(r, lr, s) for s in sorted(proxy_steps) for r in args.recipes for lr in args.lr]
    budget = 0 if args.report else (args.stop_after or math.inf)
    todo: list[list[Callable[[], None]]] = []
    for chain in chains:
        units = [make for done, make in chain if not done.is_file()]
        take = units[: int(min(len(units), budget))]
        budget -= len(take)
        if take:
            todo.append(take)
    started = time.time()
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            list(pool.map(lambda units: [u() for u in units], todo))
        print(f"{sum(map(len, todo))} units in {time.time() - started:.0f} s", flush=True)
    report(out, archs, info, training_free(archs, info), args, proxy_dir, proxy_steps, ref_steps, base)


def measure(out: Path, archs: list[dict[str, Any]], base: list[str], recipe: str, lr: float, steps: int) -> None:
    """One proxy unit, in this process: the architectures measured as a search of that setting measures its
    candidates (:func:`kdnas.pipelines.search.measure_architectures`, teacher outputs read from the cache), into
    ``<out>/proxy_store.sqlite`` (a killed unit resumes); one ``summary.json`` per architecture."""
    from kdnas.models.arch import FIELDS, ArchSpec
    from kdnas.pipelines.search import measure_architectures

    run_dir = out / "proxy" / f"{recipe}_lr{lr:g}_s{steps}"
    cfg = compose([*base, *RECIPES[recipe], f"distill.lr={lr}", f"search.proxy_steps={steps}",
                   f"search.shared_store={out / 'proxy_store.sqlite'}", "logger=none",
                   f"paths.output_dir={run_dir}"])
    specs = [ArchSpec.from_dict({k: a[k] for k in FIELDS}) for a in archs]
    for m in measure_architectures(cfg, specs, run_dir)[1]:
        summary = {"val_loss": m.loss if m.ok else math.nan, "wall_seconds": m.wall_seconds, "status": m.status,
                   "reason": m.reason, "speedup_paired": m.paired_speedup}
        (run_dir / m.arch.arch_id).mkdir(parents=True, exist_ok=True)
        (run_dir / m.arch.arch_id / "summary.json").write_text(json.dumps(summary, indent=2))
    (run_dir / "done.json").write_text(json.dumps({"archs": len(specs)}))


def read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def reference_geometry(out: Path, archs: list[dict[str, Any]], base: list[str]) -> dict[str, dict[str, float]]:
    """Each kept reference student's pooled, normalised embedding of the proxy-validation split against the
    teacher's: linear CKA and the shared fraction of 10 nearest neighbours (what ``search.proxy_objective=cka`` /
    ``knn`` score after the proxy's steps), cached in ``ref/<id>/geometry.json``."""
    todo = [a for a in archs if (out / "ref" / a["arch_id"] / "student").is_dir()
            and not (out / "ref" / a["arch_id"] / "geometry.json").is_file()]
    if todo:
        import torch

        from kdnas.distill.losses import knn_overlap, linear_cka
        from kdnas.distill.module import KNN
        from kdnas.evaluate.embed import embed_texts
        from kdnas.evaluate.student import load_student
        from kdnas.pipelines.common import load_corpus, load_teacher

        cfg = compose(base)
        teacher, corpus = load_teacher(cfg), load_corpus(cfg)
        texts = corpus.texts("validation")
        t = torch.from_numpy(embed_texts(teacher.model, teacher.tokenizer, texts))
        for a in todo:
            model, tokenizer = load_student(out / "ref" / a["arch_id"] / "student", teacher)
            e = torch.from_numpy(embed_texts(model, tokenizer, texts))
            geometry = {"cka": float(linear_cka(e, t)), "knn": float(knn_overlap(e, t, KNN)), "texts": len(texts)}
            (out / "ref" / a["arch_id"] / "geometry.json").write_text(json.dumps(geometry, indent=2))
    return {a["arch_id"]: g for a in archs if (g := read(out / "ref" / a["arch_id"] / "geometry.json"))}


def report(out: Path, archs: list[dict[str, Any]], info: dict[str, Any], free: dict[str, dict[str, float]],
           args: argparse.Namespace, proxy_dir: Callable[[str, float, int], Path], proxy_steps: list[int],
           ref_steps: int, base: list[str]) -> None:
    """The table and ``fidelity.json`` from what is on disk."""
    ref: dict[str, dict[str, Any]] = {}
    for a in archs:
        summary, rep = read(out / "ref" / a["arch_id"] / "summary.json"), read(out / "ref" / a["arch_id"] / "eval_dev" / "report.json")
        if summary and rep:
            ref[a["arch_id"]] = {"retention_macro": rep["retention"]["macro"], "macro": rep["scores"]["student"]["macro"],
                                 "val_loss": summary["val_loss"], "speedup": rep["latency"]["cpu"]["speedup"],
                                 "train_wall_s": summary["wall_seconds"], "eval_wall_s": rep.get("wall_seconds")}
    proxies: list[dict[str, Any]] = [{"name": n, "kind": "training-free", "scores": s, "cost_s": 0.0} for n, s in free.items()]
    for recipe in args.recipes:
        for lr in args.lr:
            for steps in sorted(proxy_steps):
                found = {a["arch_id"]: read(proxy_dir(recipe, lr, steps) / a["arch_id"] / "summary.json") for a in archs}
                done = {i: s for i, s in found.items() if s}
                if done:
                    proxies.append({"name": f"{recipe} lr {lr:g} {steps} steps", "kind": "proxy", "recipe": recipe,
                                    "lr": lr, "steps": steps, "scores": {i: -s["val_loss"] for i, s in done.items()},
                                    "cost_s": float(np.median([s["wall_seconds"] for s in done.values()]))})
    shaped = {a["arch_id"] for a in archs if a["teacher_shaped"]}
    for p in proxies:
        ids = [i for i in p["scores"] if i in ref and math.isfinite(p["scores"][i])]
        x = [p["scores"][i] for i in ids]
        p["vs_dev_retention"] = correlation(x, [ref[i]["retention_macro"] for i in ids], args.bootstrap, args.seed)
        p["vs_ref_val_loss"] = correlation(x, [-ref[i]["val_loss"] for i in ids], 0, args.seed)
        rest = [j for j, i in enumerate(ids) if i not in shaped]
        p["vs_dev_retention_not_teacher_shaped"] = correlation(
            [x[j] for j in rest], [ref[ids[j]]["retention_macro"] for j in rest], 0, args.seed)

    print(f"\n{len(ref)} of {len(archs)} references ({ref_steps} steps, final recipe; dev macro retention)\n")
    print("| arch | teacher-shaped | est. cost | speed-up (eval) | ref val loss | dev macro retention |")
    print("|---|---|---:|---:|---:|---:|")
    for a in sorted(archs, key=lambda a: a["estimated_cost_ratio"]):
        r = ref.get(a["arch_id"])
        cells = ("–",) * 3 if r is None else (f"{r['speedup']:.1f}x", f"{r['val_loss']:.3f}", f"{r['retention_macro']:.3f}")
        print(f"| {a['name']} | {'yes' if a['teacher_shaped'] else ''} | {a['estimated_cost_ratio']:.3f} | {' | '.join(cells)} |")
    print("\n| proxy | archs | Spearman ρ [95% CI] | Kendall τ [95% CI] | ρ vs ref val loss | ρ, not teacher-shaped "
          "| wall s / arch |")
    print("|---|---:|---|---|---:|---:|---:|")
    for p in proxies:
        c = p["vs_dev_retention"]
        print(f"| {p['name']} | {c['n']} | {fmt(c, 'spearman')} | {fmt(c, 'kendall')} | "
              f"{fmt(p['vs_ref_val_loss'], 'spearman')} | {fmt(p['vs_dev_retention_not_teacher_shaped'], 'spearman')} "
              f"| {p['cost_s']:.1f} |")
    finished = [i for i in ref if math.isfinite(ref[i]["val_loss"])]
    own = correlation([-ref[i]["val_loss"] for i in finished], [ref[i]["retention_macro"] for i in finished], args.bootstrap,
                      args.seed)
    print(f"\nthe references' own validation loss against their dev retention: Spearman {fmt(own, 'spearman')} "
          f"({own['n']} references)")
    geometry = reference_geometry(out, archs, base)
    own_geometry = {}
    for key in ("cka", "knn"):
        ids = [i for i in geometry if i in ref]
        own_geometry[key] = correlation([geometry[i][key] for i in ids], [ref[i]["retention_macro"] for i in ids],
                                        args.bootstrap, args.seed)
        print(f"the references' own {key} with the teacher (proxy-validation split) against their dev retention: "
              f"Spearman {fmt(own_geometry[key], 'spearman')} ({own_geometry[key]['n']} references)")
    (out / "fidelity.json").write_text(json.dumps({
        "info": info, "archs": archs, "ref_steps": ref_steps, "reference": ref, "proxies": proxies,
        "reference_loss_vs_retention": own, "reference_geometry": geometry,
        "reference_geometry_vs_retention": own_geometry,
        "reference_quality": "dev macro retention (evaluate.py eval.split=dev, retrieval + langid)",
        "proxy_score": "minus the final validation loss of the recipe's search.proxy_objective (default: the "
                       "hidden-state loss; larger is better)",
    }, indent=2))
    print(f"\n{out / 'fidelity.json'}")


if __name__ == "__main__":
    main()
