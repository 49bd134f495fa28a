"""The LightningDataModule: tokenizes a corpus with the teacher's tokenizer, batches by length.

With ``paired=True`` the training split is the corpus's translation pairs instead of its texts: a batch
of ``B`` pairs is ``2B`` rows (the ``B`` English sources, then their ``B`` translations) and carries
``n_pairs``, which the cross-lingual distillation loss needs.

When :class:`~kdnas.data.teacher_cache.TeacherCache` objects are given (the search's proxy and validation
splits), every batch of those splits also carries the teacher's precomputed hidden states, so the
distillation runs no teacher forward.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import PreTrainedTokenizerBase

from kdnas.data.batching import LengthBucketBatchSampler, pad_sequences
from kdnas.data.corpus import Corpus
from kdnas.data.teacher_cache import TeacherCache
from kdnas.errors import ConfigError


def tokenize_texts(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, prefix: str = ""
) -> list[np.ndarray]:
    """Token ids (with special tokens, truncated) of each text, as int32 arrays."""
    encoded = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length, add_special_tokens=True)
    return [np.asarray(ids, dtype=np.int32) for ids in encoded["input_ids"]]


@dataclass
class TokenizedSplit(Dataset):
    ids: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray]:
        return index, self.ids[index]


class Collator:
    """Pads a batch; adds cached teacher states ``(n_layers, B, T, H)`` and their layer numbers when a cache is given."""

    def __init__(self, pad_id: int, cache: TeacherCache | None = None, layers: Sequence[int] | None = None) -> None:
        self.pad_id = pad_id
        self.cache = cache
        self.layers = layers

    def __call__(self, items: list[tuple[int, np.ndarray]]) -> dict[str, torch.Tensor]:
        indices = [i for i, _ in items]
        input_ids, mask = pad_sequences([ids for _, ids in items], self.pad_id)
        batch = {"input_ids": input_ids, "attention_mask": mask, "index": torch.tensor(indices)}
        if self.cache is not None:
            batch["teacher_hidden"] = self.cache.batch(indices, input_ids.shape[1], self.layers)
            if self.layers is not None:
                batch["teacher_layers"] = torch.tensor(list(self.layers))
        return batch


@dataclass
class PairedSplit(Dataset):
    """Tokenized ``(English source, translation)`` pairs."""

    sources: list[np.ndarray]
    translations: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray, np.ndarray]:
        return index, self.sources[index], self.translations[index]

    def lengths(self) -> list[int]:
        return [max(len(s), len(t)) for s, t in zip(self.sources, self.translations, strict=True)]


class PairCollator:
    """Pads ``B`` pairs into ``2B`` rows, sources first, then translations in the same order."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, items: list[tuple[int, np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
        seqs = [s for _, s, _ in items] + [t for _, _, t in items]
        input_ids, mask = pad_sequences(seqs, self.pad_id)
        return {"input_ids": input_ids, "attention_mask": mask, "index": torch.tensor([i for i, _, _ in items]),
                "n_pairs": torch.tensor(len(items))}


def tokenize_pairs(
    tokenizer: PreTrainedTokenizerBase, corpus: Corpus, split: str, max_length: int, prefix: str = ""
) -> PairedSplit:
    """Tokenize a split's translation pairs (each distinct string once)."""
    pairs = corpus.pairs(split)
    if not pairs:
        raise ConfigError(
            f"data.paired=true but corpus {corpus.name!r} has no translation pairs in split {split!r}: "
            "use data=gettext (or set data.paired=false)"
        )
    strings = list(dict.fromkeys(s for p in pairs for s in (p.source, p.translation)))
    ids = dict(zip(strings, tokenize_texts(tokenizer, strings, max_length, prefix), strict=True))
    return PairedSplit([ids[p.source] for p in pairs], [ids[p.translation] for p in pairs])


class DistillDataModule(L.LightningDataModule):
    """Tokenized, length-bucketed splits of a :class:`Corpus`.

    Args:
        corpus: the text source.
        tokenizer: the teacher's tokenizer (the student shares it).
        text_prefix: prepended to every text (the teacher's input convention).
        max_length: truncation length in tokens.
        batch_size, eval_batch_size: training and evaluation batch sizes.
        train_split: ``train`` for full distillation, ``proxy`` in the search.
        teacher_caches: precomputed teacher states per role (``train``, ``validation``, ``test``).
        paired: train on translation pairs (see the module docstring); ``batch_size`` counts pairs.
    """

    def __init__(
        self,
        corpus: Corpus,
        tokenizer: PreTrainedTokenizerBase,
        text_prefix: str = "",
        max_length: int = 64,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        train_split: str = "train",
        val_split: str = "validation",
        test_split: str = "test",
        num_workers: int = 0,
        seed: int = 0,
        teacher_caches: Mapping[str, TeacherCache] | None = None,
        paired: bool = False,
    ) -> None:
        super().__init__()
        if max_length < 4:
            raise ConfigError(f"data.max_length={max_length} is too small: use at least 4 tokens")
        if batch_size < 1 or eval_batch_size < 1:
            raise ConfigError("data.batch_size and data.eval_batch_size must be positive")
        self.corpus = corpus
        self.tokenizer = tokenizer
        self.text_prefix = text_prefix
        self.max_length = max_length
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.split_names = {"train": train_split, "validation": val_split, "test": test_split}
        self.num_workers = num_workers
        self.seed = seed
        self.teacher_caches = dict(teacher_caches or {})
        self.paired = paired
        #: teacher layers to read from the caches (None: all); set per student from its layer mapping
        self.teacher_layers: tuple[int, ...] | None = None
        self._splits: dict[str, TokenizedSplit] = {}
        self._pairs: PairedSplit | None = None
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else 0)

    def split(self, role: str) -> TokenizedSplit:
        """The tokenized split playing ``role`` (train / validation / test), tokenized once."""
        if role not in self._splits:
            name = self.split_names[role]
            texts = self.corpus.texts(name)
            if not texts:
                raise ConfigError(f"the corpus split {name!r} is empty: adjust data.fractions or data.max_texts")
            self._splits[role] = TokenizedSplit(tokenize_texts(self.tokenizer, texts, self.max_length, self.text_prefix))
        return self._splits[role]

    def _loader(self, role: str, shuffle: bool, batch_size: int) -> DataLoader:
        data = self.split(role)
        cache = self.teacher_caches.get(role)
        sampler = LengthBucketBatchSampler([len(x) for x in data.ids], batch_size, shuffle=shuffle, seed=self.seed)
        return DataLoader(
            data,
            batch_sampler=sampler,
            collate_fn=Collator(self.pad_id, cache, self.teacher_layers),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def paired_train(self) -> PairedSplit:
        """The training split's translation pairs, tokenized once."""
        if self._pairs is None:
            self._pairs = tokenize_pairs(
                self.tokenizer, self.corpus, self.split_names["train"], self.max_length, self.text_prefix
            )
        return self._pairs

    def train_dataloader(self) -> DataLoader:
        if not self.paired:
            return self._loader("train", True, self.batch_size)
        if "train" in self.teacher_caches:
            raise ConfigError("data.paired=true cannot use a teacher-output cache for the training split")
        data = self.paired_train()
        sampler = LengthBucketBatchSampler(data.lengths(), self.batch_size, shuffle=True, seed=self.seed)
        return DataLoader(
            data,
            batch_sampler=sampler,
            collate_fn=PairCollator(self.pad_id),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed}
