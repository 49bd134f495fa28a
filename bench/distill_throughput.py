"""Benchmark: tokens per second of hidden-state distillation, default teacher, two student sizes.

    .venv/bin/python bench/distill_throughput.py [--steps 20] [--batch-size 32] [--max-length 64]

For each student, with its word embeddings trained and frozen (``student.freeze_word_embeddings``), times
``--steps`` optimisation steps (after 3 warm-up steps) with the live teacher forward, then the same with
the teacher's states read from the on-disk cache (the search's path).
Counts non-padding tokens. Prints a markdown table to paste into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from kdnas.data.datamodule import DistillDataModule
from kdnas.data.gettext import load_gettext_corpus
from kdnas.data.teacher_cache import build_teacher_cache
from kdnas.distill.module import DistillationModule
from kdnas.models.arch import ArchSpec
from kdnas.models.student import build_student, count_parameters
from kdnas.models.teacher import load_me5_small_teacher
from kdnas.utils.paths import cache_root

STUDENTS = {
    "fast (L2-H256-A4-F512)": ArchSpec(2, 256, 4, 512, "gelu"),
    "small (L4-H256-A4-F1024)": ArchSpec(4, 256, 4, 1024, "gelu"),
}


def time_steps(module: DistillationModule, batches: list[dict[str, torch.Tensor]], steps: int) -> float:
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    tokens, elapsed = 0, 0.0
    for i in range(steps + 3):
        batch = batches[i % len(batches)]
        start = time.perf_counter()
        loss = module.loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i >= 3:
            elapsed += time.perf_counter() - start
            tokens += int(batch["attention_mask"].sum())
    return tokens / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    teacher = load_me5_small_teacher()
    corpus = load_gettext_corpus(max_texts={"train": 2000, "proxy": 2000, "validation": 200, "dev": 200, "test": 200})
    dm = DistillDataModule(corpus, teacher.tokenizer, teacher.text_prefix, args.max_length, args.batch_size,
                           train_split="proxy")
    split = dm.split("train")
    cache = build_teacher_cache(cache_root() / "teacher_outputs", teacher.model, teacher.cache_key, split.ids,
                                corpus.fingerprint("proxy"), args.max_length, dm.pad_id)
    dm.teacher_caches = {"train": cache}
    cached = [b for _, b in zip(range(args.steps + 3), dm.train_dataloader(), strict=False)]
    live = [{k: v for k, v in b.items() if k != "teacher_hidden"} for b in cached]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; batch {args.batch_size}, max length {args.max_length}, {args.steps} steps")
    print("| student | word embeddings | params (no emb.) | live teacher tok/s | cached teacher tok/s | cache speed-up |")
    print("|---|---|---|---|---|---|")
    for name, arch in STUDENTS.items():
        for frozen in (False, True):
            student = build_student(arch, teacher.model, freeze_word_embeddings=frozen)
            module = DistillationModule(student, teacher.model, teacher.num_layers, teacher.hidden_size)
            live_tps = time_steps(module, live, args.steps)
            cached_tps = time_steps(module, cached, args.steps)
            print(f"| {name} | {'frozen' if frozen else 'trained'} | "
                  f"{count_parameters(student, include_embeddings=False) / 1e6:.2f}M | {live_tps:,.0f} | "
                  f"{cached_tps:,.0f} | {cached_tps / live_tps:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
