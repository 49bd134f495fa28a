"""The LightningDataModule: tokenizes a corpus with the teacher's tokenizer, batches by length.

With ``paired=True`` the training split is the corpus's translation pairs instead of its texts: a batch
of ``B`` pairs is ``2B`` rows (the ``B`` English sources, then their ``B`` translations) and carries
``n_pairs``, which the cross-lingual distillation loss needs.

When :class:`~kdnas.data.teacher_cache.TeacherCache` objects are given (the search's proxy and validation
splits), every batch of those splits also carries the teacher's precomputed hidden states, so the
distillation runs no teacher forward; a paired batch carries those of both sides, each text read from the
cache's row of that text (:meth:`DistillDataModule.cache_inputs` says which texts a cache must hold).
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
from kdnas.data.corpus import Corpus, texts_fingerprint
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


def add_teacher_states(
    batch: dict[str, torch.Tensor], cache: TeacherCache, rows: Sequence[int], layers: Sequence[int] | None
) -> None:
    """Add the cached teacher states ``(n_layers, B, T, H)`` of cache rows ``rows`` (one per batch row, padded to
    the batch's length) and, when only some layers are read, their layer numbers."""
    batch["teacher_hidden"] = cache.batch(rows, batch["input_ids"].shape[1], layers)
    if layers is not None:
        batch["teacher_layers"] = torch.tensor(list(layers))


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
            add_teacher_states(batch, self.cache, indices, self.layers)
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
    """Pads ``B`` pairs into ``2B`` rows, sources first, then translations in the same order.

    With a cache, also the teacher states of every row: pair ``i``'s source is cache row ``rows[0][i]``, its
    translation ``rows[1][i]`` (see :meth:`DistillDataModule.pair_rows`).
    """

    def __init__(
        self,
        pad_id: int,
        cache: TeacherCache | None = None,
        layers: Sequence[int] | None = None,
        rows: tuple[Sequence[int], Sequence[int]] | None = None,
    ) -> None:
        if (cache is None) != (rows is None):
            raise ValueError("give a teacher-output cache together with the cache rows of the pairs, or neither")
        self.pad_id = pad_id
        self.cache = cache
        self.layers = layers
        self.rows = rows

    def __call__(self, items: list[tuple[int, np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
        seqs = [s for _, s, _ in items] + [t for _, _, t in items]
        input_ids, mask = pad_sequences(seqs, self.pad_id)
        indices = [i for i, _, _ in items]
        batch = {"input_ids": input_ids, "attention_mask": mask, "index": torch.tensor(indices),
                 "n_pairs": torch.tensor(len(items))}
        if self.cache is not None and self.rows is not None:
            sources, translations = self.rows
            add_teacher_states(batch, self.cache, [sources[i] for i in indices] + [translations[i] for i in indices],
                               self.layers)
        return batch


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
        teacher_caches: precomputed teacher states per role (``train``, ``validation``, ``test``), each built
            from :meth:`cache_inputs` of its role.
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
        self._pair_rows: tuple[list[int], list[int]] | None = None
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

    def cache_texts(self, role: str) -> list[str]:
        """The texts a teacher-output cache of ``role`` holds, in row order: the split's texts, then (for the
        paired training split) any pair string missing from them. A gettext split's texts are exactly its
        sources and translations, so its paired batches read the single-text cache as it is."""
        name = self.split_names[role]
        texts = self.corpus.texts(name)
        if not (self.paired and role == "train"):
            return texts
        known = set(texts)
        missing = dict.fromkeys(s for p in self.corpus.pairs(name) for s in (p.source, p.translation) if s not in known)
        return texts + list(missing) if missing else texts

    def cache_inputs(self, role: str) -> tuple[list[np.ndarray], str]:
        """Token ids of :meth:`cache_texts` and their fingerprint: what a teacher-output cache of ``role`` is built
        from (:func:`~kdnas.data.teacher_cache.build_teacher_cache`) and keyed by."""
        texts = self.cache_texts(role)
        ids = self.split(role).ids
        extra = texts[len(ids):]
        if extra:
            ids = ids + tokenize_texts(self.tokenizer, extra, self.max_length, self.text_prefix)
        return ids, texts_fingerprint(texts)

    def pair_rows(self) -> tuple[list[int], list[int]]:
        """The cache rows (:meth:`cache_texts` of ``train``) of each training pair's source and translation."""
        if self._pair_rows is None:
            row = {text: i for i, text in reversed(list(enumerate(self.cache_texts("train"))))}  # first occurrence
            pairs = self.corpus.pairs(self.split_names["train"])
            self._pair_rows = ([row[p.source] for p in pairs], [row[p.translation] for p in pairs])
        return self._pair_rows

    def train_dataloader(self) -> DataLoader:
        if not self.paired:
            return self._loader("train", True, self.batch_size)
        data = self.paired_train()
        cache = self.teacher_caches.get("train")
        if cache is not None and len(cache) != len(self.cache_texts("train")):
            raise ValueError(f"the training split's teacher-output cache holds {len(cache)} texts, its paired batches "
                             f"read {len(self.cache_texts('train'))}: build it from cache_inputs('train')")
        sampler = LengthBucketBatchSampler(data.lengths(), self.batch_size, shuffle=True, seed=self.seed)
        return DataLoader(
            data,
            batch_sampler=sampler,
            collate_fn=PairCollator(self.pad_id, cache, self.teacher_layers, None if cache is None else self.pair_rows()),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed}
