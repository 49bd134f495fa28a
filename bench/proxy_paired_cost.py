"""Benchmark: the cost of a proxy step, single texts vs translation pairs (``search.proxy_paired``), both from the
teacher-output cache, and whether the cross-lingual target's pooled teacher embedding is worth storing.

    .venv/bin/python bench/proxy_paired_cost.py [--steps 20] [--threads 1] [overrides ...]

Builds the search's proxy data exactly as ``search.py`` does (:func:`kdnas.pipelines.search.proxy_datamodule`,
:func:`~kdnas.pipelines.search.teacher_caches`: default teacher and corpus unless overridden), then per student
times ``--steps`` optimisation steps (after 3 warm-up steps), single and paired interleaved step by step so a
busy machine slows both alike; a step is drawing the batch (the cache read included), forward, backward and
AdamW. For the paired batches it also times recomputing the teacher's mean-pooled sentence embeddings of the
layer the cross-lingual target reads from the cached states, against gathering stored ones, and compares the
cross-lingual loss from the cached (fp16) states with the one from the live teacher's fp32 states (what a
stored fp32 embedding would give). Prints the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = {"L2-H256-A4-F512-gelu": (2, 256, 4, 512), "L4-H384-A12-F1536-gelu": (4, 384, 12, 1536)}


def compose(overrides: list[str]) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from kdnas.pipelines.schemas import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("search", overrides=overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the search config")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average before: {os.getloadavg()}, cpus {os.cpu_count()}, threads {args.threads}", flush=True)

    import hydra
    from omegaconf import OmegaConf, open_dict

    from kdnas.distill.losses import crosslingual_relation_kl, mean_pool
    from kdnas.models.arch import ArchSpec
    from kdnas.pipelines.common import load_corpus, load_teacher
    from kdnas.pipelines.search import proxy_datamodule, teacher_caches

    cfg = compose(args.overrides)
    teacher, corpus = load_teacher(cfg), load_corpus(cfg)
    dms = {}
    for paired in (False, True):
        c = OmegaConf.create(OmegaConf.to_container(cfg))
        with open_dict(c):
            c.search.proxy_paired = paired
        dm = proxy_datamodule(c, corpus, teacher)
        dm.teacher_caches = teacher_caches(c, teacher, dm)
        dms["paired" if paired else "single"] = dm
    print(f"proxy: {len(corpus.texts('proxy'))} texts, {len(corpus.pairs('proxy'))} pairs; the paired cache is the "
          f"single one: {dms['paired'].teacher_caches['train'].directory == dms['single'].teacher_caches['train'].directory}")
    print("| student | proxy | rows a step | ms a step (median) | min | max |\n|---|---|---|---|---|---|")
    for name, (layers, hidden, heads, ffn) in STUDENTS.items():
        arch = ArchSpec(layers, hidden, heads, ffn, "gelu")
        times: dict[str, list[float]] = {"single": [], "paired": []}
        rows: dict[str, list[int]] = {"single": [], "paired": []}
        runs = {}
        for kind, dm in dms.items():
            torch.manual_seed(0)
            student = hydra.utils.instantiate(cfg.student_init)(arch, teacher.model)
            module = hydra.utils.instantiate(cfg.distill)(student=student, teacher=None,
                                                          teacher_layers=teacher.num_layers,
                                                          teacher_hidden_size=teacher.hidden_size)
            dm.teacher_layers = module.layer_map.teacher_layers
            optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
            runs[kind] = (module, optimizer, iter(dm.train_dataloader()))
        for step in range(args.steps + 3):
            for kind, (module, optimizer, batches) in runs.items():
                start = time.perf_counter()
                batch = next(batches)
                loss = module.losses(batch)["total"]
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if step >= 3:
                    times[kind].append(1000 * (time.perf_counter() - start))
                    rows[kind].append(int(batch["input_ids"].shape[0]))
        for kind in ("single", "paired"):
            t = times[kind]
            print(f"| {name} | {kind} | {statistics.mean(rows[kind]):.0f} | {statistics.median(t):.0f} | "
                  f"{min(t):.0f} | {max(t):.0f} |", flush=True)
        pooled_report(runs["paired"][0], dms["paired"], teacher, crosslingual_relation_kl, mean_pool)
    print(f"load average after: {os.getloadavg()}")


def pooled_report(module: Any, dm: Any, teacher: Any, loss_fn: Any, mean_pool: Any) -> None:
    """Recompute vs store the pooled teacher embedding of the cross-lingual target, on a few paired batches."""
    top = module.layer_map.pairs[-1][1][-1]
    cache = dm.teacher_caches["train"]
    store = np.stack([cache.states(i)[:, top].astype(np.float32).mean(0) for i in range(len(cache))])  # (N, H)
    sources, translations = dm.pair_rows()
    recompute, gather, teacher_ms, rel = [], [], [], []
    for _, batch in zip(range(10), dm.train_dataloader(), strict=False):
        states = batch["teacher_hidden"][list(batch["teacher_layers"].tolist()).index(top)]
        mask = batch["attention_mask"]
        start = time.perf_counter()
        torch.nn.functional.normalize(mean_pool(states, mask), dim=-1)
        recompute.append(1000 * (time.perf_counter() - start))
        idx = batch["index"].tolist()
        start = time.perf_counter()
        rows = [sources[i] for i in idx] + [translations[i] for i in idx]
        torch.nn.functional.normalize(torch.from_numpy(store[rows]), dim=-1)
        gather.append(1000 * (time.perf_counter() - start))
        with torch.no_grad():
            start = time.perf_counter()
            live = teacher.model(input_ids=batch["input_ids"], attention_mask=mask, output_hidden_states=True)
            teacher_ms.append(1000 * (time.perf_counter() - start))
            student = module.student(input_ids=batch["input_ids"], attention_mask=mask,
                                     output_hidden_states=True).hidden_states[-1]
            n = int(batch["n_pairs"])
            cached_loss = loss_fn(student, states, mask, n)
            live_loss = loss_fn(student, live.hidden_states[top], mask, n)
            rel.append(abs(float(cached_loss - live_loss)) / abs(float(live_loss)))
    print(f"  pooled target, {len(recompute)} paired batches: recompute from the cached states "
          f"{statistics.median(recompute):.3f} ms, gather stored {statistics.median(gather):.3f} ms; "
          f"cross-lingual loss, cached fp16 vs live fp32 states: max relative difference {max(rel):.1e}; "
          f"the live teacher's forward on the batch (what the cache saves): {statistics.median(teacher_ms):.0f} ms",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
