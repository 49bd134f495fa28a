"""Latency measurement: statistics (fake clock), thread and mode handling, the runtimes registry, the callback.

Wall-clock comparisons (a bigger model is slower, repeated measurements agree) are in
``bench/latency_stability.py --sanity``: a shared test machine cannot promise them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from transformers import BertConfig, BertModel

from kdnas.errors import ConfigError
from kdnas.latency import measure
from kdnas.latency.callback import LatencyCallback
from kdnas.latency.measure import LatencyResult, PairResult, measure_latency, measure_pair
from kdnas.latency.profile import LatencyProfile
from kdnas.latency.runtimes import RUNTIMES, resolve_runtime
from kdnas.latency.runtimes.pytorch import pytorch_runner
from kdnas.utils.torch_context import module_device, torch_threads


def bert(layers: int, hidden: int, vocab: int = 1000) -> BertModel:
    heads = max(1, hidden // 32)
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    return BertModel(config)


@pytest.fixture(scope="module")
def tiny() -> BertModel:
    return bert(2, 64)


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def fast(**overrides: Any) -> LatencyProfile:
    values: dict[str, Any] = {"seq_len": 32, "warmup": 1, "repeats": 5}
    return LatencyProfile(**{**values, **overrides})


# --- profile validation -------------------------------------------------------------------------


def test_profile_defaults() -> None:
    p = LatencyProfile()
    assert p.to_dict() == {
        "device": "cpu",
        "batch_size": 1,
        "seq_len": 128,
        "threads": 1,
        "runtime": "pytorch",
        "warmup": 5,
        "repeats": 30,
        "min_seconds": 0.0,
    }
    assert LatencyProfile.from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("device", "tpu"),
        ("batch_size", 0),
        ("seq_len", -1),
        ("seq_len", 1.5),
        ("threads", 0),
        ("threads", True),
        ("runtime", "tensorrt"),
        ("warmup", -1),
        ("repeats", 0),
        ("min_seconds", -0.1),
        ("min_seconds", float("nan")),
    ],
)
def test_profile_rejects_invalid_values(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=field):
        LatencyProfile(**{field: value})


def test_cuda_profile_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"device='cuda'.*no CUDA"):
        LatencyProfile(device="cuda")


def test_seq_len_beyond_positions_and_unknown_vocab(tiny: BertModel) -> None:
    with pytest.raises(ConfigError, match="max_position_embeddings"):
        measure_latency(tiny, fast(seq_len=512))
    with pytest.raises(ConfigError, match="vocab_size"):
        measure_latency(nn.Linear(2, 2), fast())
    with pytest.raises(ConfigError, match="vocab_size=5 is invalid"):  # ids start at 5
        measure_latency(tiny, fast(), vocab_size=5)
    with pytest.raises(ConfigError, match="block_size"):
        measure_pair(tiny, tiny, fast(), block_size=0)


# --- statistics with a fake clock -----------------------------------------------------------------


class Counter(nn.Module):
    """Counts forward calls; accepts the inputs a Hugging Face encoder takes."""

    def __init__(self, log: list[str] | None = None, name: str = "") -> None:
        super().__init__()
        self.calls = 0
        self.log = log
        self.name = name
        self.inner = nn.Linear(1, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        assert input_ids.shape == attention_mask.shape
        assert torch.is_inference_mode_enabled()
        assert not self.training
        self.calls += 1
        if self.log is not None:
            self.log.append(self.name)
        return input_ids


def fake_clock(durations_ms: list[float]) -> Iterator[int]:
    """Start/end readings whose differences are ``durations_ms``, with gaps between passes."""
    t = 1_000_000
    for d in durations_ms:
        yield t
        t += round(d * 1e6)
        yield t
        t += 7_777  # time between passes must not count


def test_statistics_with_fake_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = fake_clock([4, 1, 10, 3, 2])
    monkeypatch.setattr(measure, "_clock", lambda: next(readings))
    model = Counter()
    result = measure_latency(model, fast(warmup=2, repeats=5), vocab_size=100)
    assert model.calls == 7  # warm-up passes are not timed
    assert result.n == 5
    assert result.median_ms == pytest.approx(3.0)
    assert result.mean_ms == pytest.approx(4.0)
    # sorted 1 2 3 4 10: p90 at rank 3.6 -> 4 + 0.6 * 6
    assert result.p90_ms == pytest.approx(7.6)
    # population std: sqrt((9 + 4 + 1 + 0 + 36) / 5) = sqrt(10)
    assert result.cv == pytest.approx(10**0.5 / 4.0)
    assert result.profile["repeats"] == 5


def test_min_seconds_extends_the_timed_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = fake_clock([100.0] * 50)
    monkeypatch.setattr(measure, "_clock", lambda: next(readings))
    result = measure_latency(Counter(), fast(warmup=0, repeats=3, min_seconds=1.0), vocab_size=100)
    assert result.n == 10  # 10 x 100 ms reach 1 s


def test_pair_alternates_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # student passes take 1 ms, teacher passes 4 ms; rounds run S T, T S, S T
    order = {0: [1.0, 1.0, 4.0, 4.0], 1: [4.0, 4.0, 1.0, 1.0]}
    readings = fake_clock([d for r in range(3) for d in order[r % 2]])
    monkeypatch.setattr(measure, "_clock", lambda: next(readings))
    log: list[str] = []
    pair = measure_pair(
        Counter(log, "s"), Counter(log, "t"), fast(warmup=1, repeats=6), vocab_size=100, block_size=2
    )
    assert log == ["s", "t", "s", "s", "t", "t", "t", "t", "s", "s", "s", "s", "t", "t"]
    assert pair.student.n == pair.teacher.n == 6
    assert pair.student.median_ms == pytest.approx(1.0)
    assert pair.teacher.median_ms == pytest.approx(4.0)
    assert pair.speedup == pytest.approx(4.0)


# --- real measurements ------------------------------------------------------------------------------


def test_measure_tiny_bert(tiny: BertModel) -> None:
    result = measure_latency(tiny, fast(repeats=7))
    assert result.n == 7
    assert result.median_ms <= result.p90_ms
    assert result.profile == fast(repeats=7).to_dict()
    assert LatencyResult.from_dict(result.to_dict()) == result


def test_threads_and_training_flags_are_restored(tiny: BertModel, restore_threads: None) -> None:
    torch.set_num_threads(2)
    tiny.train()
    tiny.embeddings.eval()  # a submodule kept in eval mode must stay so
    measure_latency(tiny, fast(threads=1))
    assert torch.get_num_threads() == 2
    assert tiny.training and tiny.encoder.training and not tiny.embeddings.training
    tiny.eval()


def test_threads_restored_after_failure(restore_threads: None) -> None:
    class Broken(nn.Module):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> None:
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")

    torch.set_num_threads(2)
    with pytest.raises(RuntimeError, match="boom"):
        measure_latency(Broken(), fast(threads=1), vocab_size=50)
    assert torch.get_num_threads() == 2


# --- the callback -------------------------------------------------------------------------------------


class TinyDistiller(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.student = bert(1, 32, vocab=200)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        (ids,) = batch
        return self.student(input_ids=ids).last_hidden_state.pow(2).mean()

    def train_dataloader(self) -> DataLoader:
        ids = torch.randint(5, 200, (8, 16))
        return DataLoader(TensorDataset(ids), batch_size=4)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def read_metrics(log_dir: str) -> list[dict[str, str]]:
    with open(Path(log_dir) / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_callback_in_a_real_fit(tmp_path: Path) -> None:
    callback = LatencyCallback(fast(seq_len=16), model_attr="student", teacher_ms=100.0)
    logger = CSVLogger(tmp_path)
    trainer = pl.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=logger,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[callback],
    )
    module = TinyDistiller()
    trainer.fit(module)
    assert callback.result is not None and callback.result.n == 5
    assert module.student.training  # the measurement left the module as it was
    rows = [r for r in read_metrics(logger.log_dir) if r.get("latency/median_ms")]
    assert len(rows) == 1
    assert float(rows[0]["latency/median_ms"]) == pytest.approx(callback.result.median_ms)
    assert float(rows[0]["latency/speedup"]) == pytest.approx(100.0 / callback.result.median_ms)
    assert rows[0]["step"] == "2"
    assert {"latency/p90_ms", "latency/cv"} <= rows[0].keys()

    restored = LatencyCallback(fast(seq_len=16))
    restored.load_state_dict(callback.state_dict())
    assert restored.result == callback.result
    assert restored.teacher_ms == 100.0


def test_callback_times_the_student_beside_a_reference() -> None:
    module = TinyDistiller()
    reference = bert(4, 64, vocab=200)  # a slower "teacher"
    callback = LatencyCallback(fast(seq_len=16), model_attr="student", teacher_ms=1000.0, reference=reference)
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False, callbacks=[callback])
    trainer.fit(module)
    assert callback.paired_speedup is not None and callback.result is not None
    assert callback.speedup == callback.paired_speedup  # the side-by-side ratio, not 1000 ms / student ms
    assert callback.speedup != pytest.approx(1000.0 / callback.result.median_ms)
    restored = LatencyCallback(fast(seq_len=16))
    restored.load_state_dict(callback.state_dict())
    assert restored.speedup == callback.paired_speedup


def test_callback_validates_arguments() -> None:
    with pytest.raises(ConfigError, match="model_attr"):
        LatencyCallback(LatencyProfile(), model_attr="not an attribute")
    with pytest.raises(ConfigError, match="teacher_ms"):
        LatencyCallback(LatencyProfile(), teacher_ms=0)
    with pytest.raises(ConfigError, match="profile"):
        LatencyCallback("cpu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="threads"):
        LatencyCallback({"threads": 0})
    assert LatencyCallback({"threads": 2}).profile.threads == 2


def test_callback_setup_checks_the_attribute() -> None:
    callback = LatencyCallback(LatencyProfile(), model_attr="teacher")
    with pytest.raises(ConfigError, match="has no such attribute"):
        callback.setup(pl.Trainer(logger=False), TinyDistiller(), stage="fit")


def test_callback_skips_other_ranks() -> None:
    class Rank1:
        is_global_zero = False
        loggers = ()

    callback = LatencyCallback(fast())
    callback.result = "stale"  # type: ignore[assignment]
    callback.on_fit_end(Rank1(), TinyDistiller())  # type: ignore[arg-type]
    assert callback.result is None


def test_runtime_registry() -> None:
    assert resolve_runtime("pytorch") is pytorch_runner
    assert LatencyProfile().runtime in RUNTIMES
    with pytest.raises(ConfigError, match="onnxruntime_int8"):  # the message lists the valid names
        resolve_runtime("onnx")


# --- torch context helpers ------------------------------------------------------------------------------


def test_torch_threads_none_leaves_threads(restore_threads: None) -> None:
    torch.set_num_threads(2)
    with torch_threads(None):
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)  # the block may change them; nothing is restored
    assert torch.get_num_threads() == 1
    with torch_threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1


def test_module_device() -> None:
    assert module_device(nn.Module()) == torch.device("cpu")  # no parameters or buffers
    with_buffer = nn.Module()
    with_buffer.register_buffer("b", torch.zeros(1, device="meta"))
    assert module_device(with_buffer) == torch.device("meta")


def pair(student_cv: float, speedup: float, teacher_cv: float = 0.01) -> PairResult:
    def result(cv: float, ms: float) -> LatencyResult:
        return LatencyResult(median_ms=ms, p90_ms=ms, mean_ms=ms, cv=cv, n=5, profile={})

    return PairResult(student=result(student_cv, 10.0), teacher=result(teacher_cv, 10.0 * speedup), speedup=speedup)


@pytest.mark.parametrize(("readings", "max_cv", "timings", "kept"), [
    ([pair(0.05, 4.0)], 0.25, 1, 4.0),  # steady: timed once
    ([pair(0.4, 6.0), pair(0.3, 5.0), pair(0.1, 4.0)], 0.25, 3, 4.0),  # unsteady until the third
    ([pair(0.4, 6.0), pair(0.1, 4.0), pair(0.01, 3.0)], 0.25, 2, 4.0),  # stops at the first steady one
    ([pair(0.4, 6.0), pair(0.35, 5.0), pair(0.38, 4.0)], 0.25, 3, 5.0),  # never steady: the steadiest
    ([pair(0.01, 6.0, teacher_cv=0.5), pair(0.02, 4.0)], 0.25, 2, 4.0),  # the teacher's spread counts too
    ([pair(0.4, 6.0), pair(0.1, 4.0)], None, 1, 6.0),  # max_cv=None: once, whatever the spread
])
def test_an_unsteady_timing_is_repeated_and_the_steadiest_kept(
        monkeypatch: pytest.MonkeyPatch, readings: list[PairResult], max_cv: float | None, timings: int,
        kept: float) -> None:
    from kdnas.latency import callback as module

    queue = iter(readings)
    monkeypatch.setattr(module, "measure_pair", lambda *args, **kwargs: next(queue))

    class Rank0:
        is_global_zero, loggers, global_step = True, (), 0

    callback = LatencyCallback(fast(), reference=torch.nn.Identity(), teacher_ms=100.0, max_cv=max_cv, retimes=2)
    callback.on_fit_end(Rank0(), TinyDistiller())  # type: ignore[arg-type]
    assert callback.timings == timings and callback.paired_speedup == kept


def test_callback_rejects_a_bad_retime_setting() -> None:
    with pytest.raises(ConfigError, match="max_cv"):
        LatencyCallback(LatencyProfile(), max_cv=0)
    with pytest.raises(ConfigError, match="retimes"):
        LatencyCallback(LatencyProfile(), retimes=-1)


def test_an_unsteady_timing_alone_is_repeated_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from kdnas.latency import callback as module

    queue = iter([pair(0.5, 1.0).student, pair(0.1, 1.0).student])
    monkeypatch.setattr(module, "measure_latency", lambda *args, **kwargs: next(queue))

    class Rank0:
        is_global_zero, loggers, global_step = True, (), 0

    callback = LatencyCallback(fast(), max_cv=0.25)
    callback.on_fit_end(Rank0(), TinyDistiller())  # type: ignore[arg-type]
    assert callback.timings == 2 and callback.result is not None and callback.result.cv == 0.1
