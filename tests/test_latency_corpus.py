"""Latency on real texts at their own lengths (``seq_len="corpus"``): inputs, cycling, pairing, wiring."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import hydra
import pytest
import torch
import yaml
from torch import nn
from transformers import BertConfig, BertModel

from kdnas.data.corpus import SPLITS, Corpus, CorpusSplit
from kdnas.errors import ConfigError
from kdnas.latency import measure
from kdnas.latency.measure import corpus_batches, measure_latency, measure_pair
from kdnas.latency.profile import LatencyProfile, with_real_inputs
from kdnas.nas.budget import LatencyBudget
from kdnas.nas.store import setting_key
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ((0, 11, 12, 2), (0, 13, 2), (0, 14, 15, 16, 17, 2), (0, 18, 2), (0, 19, 20, 2), (0, 21, 2), (0, 22, 23, 2))


def corpus(**overrides: object) -> LatencyProfile:
    values: dict[str, object] = {"seq_len": "corpus", "warmup": 1, "repeats": 3, "inputs": INPUTS}
    return LatencyProfile(**{**values, **overrides})  # type: ignore[arg-type]


class Recorder(nn.Module):
    """Records the unpadded token ids of every row of every forward pass."""

    def __init__(self, log: list[tuple[str, tuple[tuple[int, ...], ...]]], name: str) -> None:
        super().__init__()
        self.log, self.name = log, name
        self.inner = nn.Linear(1, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        rows = tuple(tuple(ids[mask.bool()].tolist()) for ids, mask in zip(input_ids, attention_mask, strict=True))
        self.log.append((self.name, rows))
        return input_ids


def fake_clock(ms: float = 1.0) -> Iterator[int]:
    t = 0
    while True:
        yield t
        t += round(ms * 1e6)


def test_a_corpus_profile_times_every_input_for_both_models_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = fake_clock()
    monkeypatch.setattr(measure, "_clock", lambda: next(readings))
    log: list[tuple[str, tuple[tuple[int, ...], ...]]] = []
    pair = measure_pair(Recorder(log, "s"), Recorder(log, "t"), corpus(), vocab_size=100, block_size=2)
    assert pair.student.n == pair.teacher.n == 7  # repeats=3 rounded up to one whole cycle of 7 inputs
    student = [rows for name, rows in log if name == "s"][1:]  # after the warm-up pass
    teacher = [rows for name, rows in log if name == "t"][1:]
    assert student == teacher == [(ids,) for ids in INPUTS]  # every input once, the same order for both
    assert [name for name, _ in log[2:6]] == ["s", "s", "t", "t"]  # still interleaved in blocks
    assert len(pair.student.samples_ms) == 7  # per pass


def test_whole_cycles_batches_and_min_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = fake_clock(100.0)
    monkeypatch.setattr(measure, "_clock", lambda: next(readings))
    log: list[tuple[str, tuple[tuple[int, ...], ...]]] = []
    result = measure_latency(Recorder(log, "m"), corpus(batch_size=2, warmup=0, min_seconds=0.5), vocab_size=100)
    # 4 batches of 2 consecutive inputs (the last wraps round to the first); 0.5 s needs 5 passes -> 2 cycles
    assert result.n == 8
    assert [rows for _, rows in log[:4]] == [INPUTS[0:2], INPUTS[2:4], INPUTS[4:6], (INPUTS[6], INPUTS[0])]
    assert log[4:] == log[:4]
    batch = corpus_batches(INPUTS[1:3], 2, vocab_size=100, pad_id=1)[0]
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, 6)  # padded to the longest
    assert batch["input_ids"][0].tolist() == [0, 13, 2, 1, 1, 1] and batch["attention_mask"][0].sum() == 3
    folded = corpus_batches(((0, 7, 60, 2),), 1, vocab_size=50)[0]["input_ids"][0].tolist()
    assert folded == [0, 7, 15, 2]  # ids beyond a (pruned) vocabulary are folded into [5, 50)


def test_an_unresolved_corpus_profile_says_what_resolves_it() -> None:
    bare = LatencyProfile(seq_len="corpus")
    with pytest.raises(ConfigError, match="with_real_inputs"):
        measure_latency(Recorder([], "m"), bare, vocab_size=100)
    with pytest.raises(ConfigError, match="dev split"):
        _ = bare.tokens_per_sequence
    with pytest.raises(ConfigError, match="seq_len='corpus' only"):
        LatencyProfile(seq_len=128, inputs=INPUTS)
    with pytest.raises(ConfigError, match="token ids"):
        LatencyProfile(seq_len="corpus", inputs=((),))
    with pytest.raises(ConfigError, match="max_position_embeddings"):
        measure_latency(bert(1, 32, positions=4), corpus(), vocab_size=100)


def test_with_real_inputs_sample_summary_and_fingerprint(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    tok = tiny_teacher.tokenizer
    texts = [f"sentence number {i} " + "word " * (i % 9) for i in range(50)]
    profile = with_real_inputs(LatencyProfile(), tok, texts, n=20, seed=1, prefix="query: ", max_length=8)
    assert profile.is_corpus and len(profile.inputs) == 20 and max(map(len, profile.inputs)) <= 8
    assert profile == with_real_inputs(LatencyProfile(), tok, texts, n=20, seed=1, prefix="query: ", max_length=8)
    assert hash(profile) == hash(with_real_inputs(LatencyProfile(), tok, texts, n=20, seed=1, prefix="query: ",
                                                  max_length=8))
    first = tok.convert_ids_to_tokens(list(profile.inputs[0]))
    assert first[:3] == ["[CLS]", "query", ":"]  # the teacher's prefix
    other = with_real_inputs(LatencyProfile(), tok, texts, n=20, seed=2, prefix="query: ", max_length=8)
    summary = profile.to_dict()
    assert summary["seq_len"] == "corpus" and summary["n_inputs"] == 20
    assert summary["median_tokens"] == profile.tokens_per_sequence and "inputs" not in summary
    assert json.dumps(summary)  # plain values only, no ids
    assert summary["inputs_sha"] != other.to_dict()["inputs_sha"]
    assert setting_key({"profile": summary}) != setting_key({"profile": other.to_dict()})  # the store tells them apart
    assert LatencyProfile.from_dict(summary) == LatencyProfile(seq_len="corpus")  # comes back unresolved
    assert len(with_real_inputs(LatencyProfile(), tok, texts[:5], n=20).inputs) == 5  # fewer texts: all of them
    with pytest.raises(ConfigError, match="no texts"):
        with_real_inputs(LatencyProfile(), tok, [])


def bert(layers: int, hidden: int, positions: int = 256) -> BertModel:
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=1000, hidden_size=hidden, num_hidden_layers=layers,
                                num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden,
                                max_position_embeddings=positions))


def test_short_real_inputs_are_faster_than_128_tokens() -> None:
    model = bert(2, 256)
    short = tuple((0, *range(10, 10 + n), 2) for n in (8, 12, 15, 20, 9))  # 10 to 22 tokens
    settings = {"warmup": 2, "repeats": 10}
    fixed = measure_latency(model, LatencyProfile(seq_len=128, **settings))  # type: ignore[arg-type]
    real = measure_latency(model, LatencyProfile(seq_len="corpus", inputs=short, **settings))  # type: ignore[arg-type]
    assert real.n == 10 and fixed.median_ms / real.median_ms > 1.5


def test_the_latency_card_counts_a_corpus_profile_at_its_median_length() -> None:
    from kdnas.deploy.latency_card import encoder_flops, timing

    student, teacher = bert(1, 64), bert(2, 64)
    card = timing(student, teacher, corpus(warmup=0))
    assert card["seq_len"] == corpus().tokens_per_sequence == 4  # lengths 3 3 3 4 4 4 6: the median is 4
    assert card["student"]["passes"] == card["teacher"]["passes"] == 7
    assert card["teacher"]["gflop_per_pass"] == pytest.approx(encoder_flops(teacher.config, 1, 4) / 1e9)


def test_the_schema_accepts_corpus_and_rejects_junk(tmp_path: Path) -> None:
    from kdnas.pipelines.common import resolve_latency_profile, user_error

    cfg = compose_config("search", ["latency_budget.profile.seq_len=corpus"], tmp_path)
    budget = hydra.utils.instantiate(cfg.latency_budget)
    assert isinstance(budget, LatencyBudget) and budget.profile.is_corpus and not budget.profile.inputs
    with pytest.raises(Exception) as info:
        hydra.utils.instantiate(compose_config("search", ["latency_budget.profile.seq_len=abc"], tmp_path).latency_budget)
    error = user_error(info.value)
    assert error is not None and "seq_len='abc'" in str(error) and "\n" not in str(error)

    class Tok:  # a whitespace tokenizer: 1 id per word between [CLS]=0 and [SEP]=2
        model_max_length = 16

        def __call__(self, texts: list[str], truncation: bool, max_length: int) -> dict[str, list[list[int]]]:
            return {"input_ids": [[0, *[10 + len(w) for w in t.split()][: max_length - 2], 2] for t in texts]}

    model = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=512))
    teacher = SimpleNamespace(tokenizer=Tok(), text_prefix="", model=model)
    splits = {s: CorpusSplit([f"{s} text"]) for s in SPLITS}
    resolved = resolve_latency_profile(budget, teacher, Corpus("c", splits))  # type: ignore[arg-type]
    assert resolved.profile.inputs == ((0, 13, 14, 2),)  # "dev text": the dev split's
    fixed = LatencyBudget()
    assert resolve_latency_profile(fixed, teacher, Corpus("c", splits)) is fixed  # type: ignore[arg-type]


@pytest.mark.slow
def test_tiny_search_on_the_corpus_profile(tmp_path: Path) -> None:
    args = ["experiment=tiny", "latency_budget.profile.seq_len=corpus", "search.episodes=1", "logger=none",
            "search.shared_store=null", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run([sys.executable, "search.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 2), proc.stderr[-3000:]  # 2: no candidate met the budget (outputs kept)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["candidates"] == 2 and summary["teacher_latency_ms"] > 0
    rows = (tmp_path / "candidates.csv").read_text().splitlines()
    assert len(rows) == 3
    if (tmp_path / "best_arch.yaml").is_file():
        profile = yaml.safe_load((tmp_path / "best_arch.yaml").read_text())["searched_for"]["budget"]["profile"]
        assert profile["seq_len"] == "corpus" and 0 < profile["n_inputs"] <= 200 and len(profile["inputs_sha"]) == 12
