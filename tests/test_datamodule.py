"""The data module's paired mode: batches of (English source, translation) rows in a fixed layout."""

from __future__ import annotations

import pytest

from kdnas.data.corpus import SPLITS, Corpus, CorpusSplit, TranslationPair
from kdnas.data.datamodule import DistillDataModule, tokenize_texts
from kdnas.errors import ConfigError

PAIRS = [
    TranslationPair("Open the file", "Ouvrir le fichier", "fr"),
    TranslationPair("Open the file", "Datei öffnen", "de"),
    TranslationPair("Save all changes now", "Сохранить все изменения", "ru"),
    TranslationPair("Quit", "終了", "ja"),
    TranslationPair("Print the selected pages", "Imprimir las páginas", "es"),
]


def corpus(pairs: list[TranslationPair]) -> Corpus:
    texts = list(dict.fromkeys(s for p in pairs for s in (p.source, p.translation))) or ["only text"]
    split = CorpusSplit(texts, list(pairs))
    return Corpus("toy", {name: split for name in SPLITS})


def test_paired_batches_put_sources_then_their_translations(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    tok = tiny_teacher.tokenizer
    dm = DistillDataModule(corpus(PAIRS), tok, batch_size=2, paired=True, seed=3)
    batches = list(dm.train_dataloader())
    assert sum(int(b["n_pairs"]) for b in batches) == len(PAIRS)  # every pair once per epoch
    for b in batches:
        n = int(b["n_pairs"])
        assert b["input_ids"].shape[0] == 2 * n
        rows = [ids[mask.bool()].tolist() for ids, mask in zip(b["input_ids"], b["attention_mask"], strict=True)]
        for row, index in enumerate(b["index"].tolist()):
            source, translation = tokenize_texts(tok, [PAIRS[index].source, PAIRS[index].translation], 64)
            assert rows[row] == source.tolist()
            assert rows[n + row] == translation.tolist()


def test_unpaired_mode_is_unchanged(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    dm = DistillDataModule(corpus(PAIRS), tiny_teacher.tokenizer, batch_size=4)
    batches = list(dm.train_dataloader())
    assert "n_pairs" not in batches[0]
    assert sum(b["input_ids"].shape[0] for b in batches) == len(corpus(PAIRS).texts("train"))


def test_paired_mode_needs_translations(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    dm = DistillDataModule(corpus([]), tiny_teacher.tokenizer, paired=True)
    with pytest.raises(ConfigError, match=r"data\.paired"):
        dm.train_dataloader()
