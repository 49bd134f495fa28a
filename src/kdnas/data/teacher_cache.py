"""Teacher hidden states computed once per (teacher, texts, max length), memory-mapped from disk in fp16.

Every candidate of every search episode distils from the same proxy set, and for small students the
teacher's forward pass costs more than the student's step; so the teacher's hidden states at every
layer are computed once, stored token-packed (``(total_tokens, L_T + 1, H)``, fp16) with per-text
offsets, and shared. A second search over the same proxy set runs no teacher forward at all.

The directory is written under a temporary name and renamed when complete, under a file lock, so
parallel jobs (Hydra multirun) build it once and never read a half-written cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel

from kdnas.data.batching import pad_sequences
from kdnas.utils.io import file_lock

FORMAT_VERSION = 1


def cache_key(teacher_key: str, texts_fingerprint: str, max_length: int) -> str:
    raw = f"v{FORMAT_VERSION}|{teacher_key}|{texts_fingerprint}|{max_length}"
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


class TeacherCache:
    """Read side: the hidden states of text ``i`` are ``hidden[offsets[i]:offsets[i+1]]``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.meta = json.loads((directory / "meta.json").read_text())
        self.offsets = np.load(directory / "offsets.npy")
        shape = (int(self.offsets[-1]), self.meta["layers"] + 1, self.meta["hidden_size"])
        self.hidden = np.memmap(directory / "hidden.f16", dtype=np.float16, mode="r", shape=shape)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def states(self, index: int) -> np.ndarray:
        """``(n_tokens, L_T + 1, H)`` fp16."""
        return self.hidden[self.offsets[index] : self.offsets[index + 1]]

    def batch(self, indices: Sequence[int], length: int, layers: Sequence[int] | None = None) -> torch.Tensor:
        """Right-padded ``(len(layers), B, T, H)`` float32 states of a batch (all ``L_T + 1`` layers by default).

        Reading only the layers a student's mapping uses keeps the per-batch copy small.
        """
        picked = list(range(self.meta["layers"] + 1)) if layers is None else list(layers)
        out = np.zeros((len(picked), len(indices), length, self.meta["hidden_size"]), dtype=np.float32)
        for row, i in enumerate(indices):
            states = self.states(i)[:, picked]  # (n, len(picked), H)
            out[:, row, : states.shape[0]] = states.transpose(1, 0, 2)
        return torch.from_numpy(out)


@torch.no_grad()
def build_teacher_cache(
    root: Path,
    teacher: PreTrainedModel,
    teacher_key: str,
    ids: Sequence[np.ndarray],
    texts_fingerprint: str,
    max_length: int,
    pad_id: int,
    batch_size: int = 64,
) -> TeacherCache:
    """Return the cache for these token ids, computing it (once, across processes) if missing."""
    key = cache_key(teacher_key, texts_fingerprint, max_length)
    final = root / key
    if (final / "meta.json").is_file():
        return TeacherCache(final)
    with file_lock(root / f"{key}.lock"):
        if (final / "meta.json").is_file():  # another job built it while we waited
            return TeacherCache(final)
        tmp = root / f"{key}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        lengths = np.array([len(x) for x in ids])
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        layers, hidden_size = teacher.config.num_hidden_layers, teacher.config.hidden_size
        memmap = np.memmap(tmp / "hidden.f16", dtype=np.float16, mode="w+", shape=(int(offsets[-1]), layers + 1, hidden_size))
        teacher.eval()
        device = next(teacher.parameters()).device
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            input_ids, mask = pad_sequences([ids[i] for i in chunk], pad_id)
            out = teacher(input_ids=input_ids.to(device), attention_mask=mask.to(device), output_hidden_states=True)
            stacked = torch.stack(out.hidden_states, dim=2).to(torch.float16).cpu().numpy()  # (B, T, L+1, H)
            for row, i in enumerate(chunk):
                memmap[offsets[i] : offsets[i + 1]] = stacked[row, : lengths[i]]
        memmap.flush()
        del memmap
        np.save(tmp / "offsets.npy", offsets)
        meta = {"layers": layers, "hidden_size": hidden_size, "texts": len(ids), "tokens": int(offsets[-1]),
                "teacher": teacher_key, "fingerprint": texts_fingerprint, "max_length": max_length}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    return TeacherCache(final)
