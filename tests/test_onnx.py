"""ONNX export and int8 quantisation, fidelity checks, the ONNX Runtime latency runtimes, ``deploy.py``."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

from kdnas.deploy.bundle import export_student
from kdnas.deploy.verify import CHECK_TEXTS, FP32_ATOL, INT8_MIN_COSINE, check_onnx
from kdnas.errors import ConfigError
from kdnas.latency.measure import measure_latency, measure_pair
from kdnas.latency.profile import LatencyProfile
from kdnas.latency.runtimes import RUNTIMES, resolve_runtime
from kdnas.latency.runtimes.onnxruntime import (
    create_session,
    onnxruntime_int8_runner,
    onnxruntime_runner,
    providers,
)
from kdnas.models.onnx import export_onnx, onnx_paths

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 1000


def small_bert(seed: int = 0, layers: int = 2) -> BertModel:
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=128,
    )
    torch.manual_seed(seed)
    return BertModel(config).eval()


def padded_inputs(batch: int, seq: int, seed: int = 1) -> dict[str, torch.Tensor]:
    """Random ids; row i keeps its first seq - i * seq // (batch + 1) tokens (row 0 unpadded)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (batch, seq), generator=generator)  # (B, T)
    mask = torch.ones_like(ids)
    for i in range(1, batch):
        mask[i, max(1, seq - i * seq // (batch + 1)) :] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module")
def bert() -> BertModel:
    return small_bert()


@pytest.fixture(scope="module")
def exported(bert: BertModel, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """fp32 and int8 exports of ``bert``, traced on 2 x 16 tokens."""
    out = tmp_path_factory.mktemp("onnx")
    int8 = export_onnx(bert, out, quantize_int8=True, max_length_hint=16)
    return out / "model.onnx", int8


def test_file_names_are_deterministic(tmp_path: Path) -> None:
    assert onnx_paths(tmp_path) == (tmp_path / "model.onnx", tmp_path / "model.int8.onnx")
    assert onnx_paths(tmp_path / "enc.onnx") == (tmp_path / "enc.onnx", tmp_path / "enc.int8.onnx")


def test_export_writes_both_files_and_nothing_else(exported: tuple[Path, Path]) -> None:
    fp32, int8 = exported
    assert int8 == fp32.with_name("model.int8.onnx")
    assert sorted(p.name for p in fp32.parent.iterdir()) == ["model.int8.onnx", "model.onnx"]  # no temp files
    assert int8.stat().st_size < fp32.stat().st_size / 2  # int8 weights and embeddings
    session = create_session(fp32)
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask"]
    assert [o.name for o in session.get_outputs()] == ["last_hidden_state"]
    assert session.get_inputs()[0].shape == ["batch", "sequence"]


def test_fp32_matches_pytorch(bert: BertModel, exported: tuple[Path, Path]) -> None:
    result = check_onnx(bert, exported[0], padded_inputs(4, 24))
    assert result["passed"] and not result["int8"]
    assert result["max_abs_diff"] <= FP32_ATOL * max(1.0, result["output_scale"])
    assert result["max_abs_diff"] < 1e-5  # measured ~7e-7
    assert result["cosine_min"] > 0.99999


def test_int8_matches_pytorch_within_tolerance(bert: BertModel, exported: tuple[Path, Path]) -> None:
    result = check_onnx(bert, exported[1], padded_inputs(4, 24))
    assert result["int8"]  # detected from the graph's quantised operators
    assert result["passed"] and result["cosine_min"] >= INT8_MIN_COSINE
    assert result["max_abs_diff"] > 1e-4  # it really is quantised


@pytest.mark.parametrize(("batch", "seq"), [(3, 40), (1, 7), (5, 1), (1, 64)])
def test_dynamic_batch_and_sequence(
    bert: BertModel, exported: tuple[Path, Path], batch: int, seq: int
) -> None:
    result = check_onnx(bert, exported[0], padded_inputs(batch, seq, seed=batch * seq))
    assert result["shape"] == [batch, seq]
    assert result["passed"], result


def test_check_fails_against_another_model(exported: tuple[Path, Path]) -> None:
    other = small_bert(seed=1)
    assert not check_onnx(other, exported[0], padded_inputs(2, 12))["passed"]
    assert not check_onnx(other, exported[1], padded_inputs(2, 12))["passed"]


def test_export_restores_training_flags_and_leaves_weights(tmp_path: Path) -> None:
    model = small_bert(layers=1)
    model.train()
    model.encoder.layer[0].attention.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_onnx(model, tmp_path / "enc.onnx", max_length_hint=8)
    assert model.training and not model.encoder.layer[0].attention.training
    assert model.encoder.layer[0].output.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert (tmp_path / "enc.onnx").is_file() and not (tmp_path / "enc.int8.onnx").exists()


def test_xlm_roberta_family(tmp_path: Path) -> None:
    config = XLMRobertaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=66,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    model = XLMRobertaModel(config, add_pooling_layer=False).eval()
    path = export_onnx(model, tmp_path, max_length_hint=128)  # clipped to the 64 usable positions
    inputs = padded_inputs(3, 30)
    inputs["input_ids"][inputs["attention_mask"] == 0] = 1  # XLM-R positions skip padding ids
    assert check_onnx(model, path, inputs)["passed"]


def test_invalid_export_arguments(bert: BertModel, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="opset"):
        export_onnx(bert, tmp_path, opset=9)
    with pytest.raises(ConfigError, match="max_length_hint"):
        export_onnx(bert, tmp_path, max_length_hint=0)
    with pytest.raises(ConfigError, match="tokenizer or a mapping"):
        check_onnx(bert, tmp_path / "model.onnx", 42)


@pytest.mark.parametrize("runtime", ["onnxruntime", "onnxruntime_int8"])
def test_measure_latency_under_onnxruntime(
    bert: BertModel, runtime: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the runner exports
    bert.train()
    profile = LatencyProfile(runtime=runtime, seq_len=32, batch_size=2, warmup=1, repeats=5)
    result = measure_latency(bert, profile)
    assert result.n == 5 and result.median_ms <= result.p90_ms
    assert result.profile["runtime"] == runtime
    assert list(tmp_path.iterdir()) == []  # the export directory was removed
    assert bert.training  # the model is left as it was
    bert.eval()


def test_measure_pair_under_onnxruntime(bert: BertModel) -> None:
    pair = measure_pair(
        small_bert(layers=1), bert, LatencyProfile(runtime="onnxruntime", seq_len=16, repeats=5)
    )
    assert pair.student.n == pair.teacher.n == 5
    assert pair.speedup == pytest.approx(pair.teacher.median_ms / pair.student.median_ms)
    assert pair.student.profile["runtime"] == "onnxruntime"


def test_runtimes_are_registered() -> None:
    assert resolve_runtime("onnxruntime") is onnxruntime_runner
    assert resolve_runtime("onnxruntime_int8") is onnxruntime_int8_runner
    assert set(RUNTIMES) == {"pytorch", "onnxruntime", "onnxruntime_int8"}


def test_latency_imports_neither_onnxruntime_nor_deploy() -> None:
    """``import kdnas.latency...`` stays light (onnxruntime on first use) and never reaches a higher layer."""
    code = (
        "import sys, kdnas.latency.measure, kdnas.latency.callback, kdnas.models.onnx; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime') "
        "or m.startswith(('kdnas.deploy', 'kdnas.nas', 'kdnas.evaluate', 'kdnas.pipelines', 'hydra'))]; "
        "print(bad); sys.exit(bool(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def test_cuda_without_cuda_provider_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ConfigError, match="onnxruntime-gpu"):
        providers("cuda")
    assert providers("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(ConfigError, match="'cpu' or 'cuda'"):
        providers("tpu")


@pytest.fixture(scope="module")
def tiny_student(tiny_teacher, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """The tiny random teacher saved as a student directory (``save_pretrained``: model and tokenizer)."""
    student_dir = tmp_path_factory.mktemp("student")
    tiny_teacher.model.save_pretrained(student_dir)
    tiny_teacher.tokenizer.save_pretrained(student_dir)
    return student_dir


def test_export_student_with_tokenizer(tiny_teacher, tiny_student: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    student_dir = tiny_student
    out = tmp_path / "deploy"
    result = export_student(student_dir, out, int8=True, strict=True)
    assert result["fp32"]["passed"] and result["int8"]["passed"]
    assert result["fp32"]["n_sequences"] == len(CHECK_TEXTS)
    assert result["int8"]["cosine_min"] >= INT8_MIN_COSINE
    names = {p.name for p in out.iterdir()}
    assert {"model.onnx", "model.int8.onnx", "config.json", "tokenizer.json", "onnx_check.json"} <= names
    assert not any(name.startswith(".") for name in names)  # no temporary files or scratch directories
    assert json.loads((out / "onnx_check.json").read_text())["int8"]["passed"] is True
    # the directory is self-contained: tokenizer + onnx give the same output as the saved model
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    encoded = tokenizer(["hello world", "a"], padding=True, return_tensors="np")
    feed = {k: encoded[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
    hidden = create_session(out / "model.onnx").run(None, feed)[0]
    assert hidden.shape == (*feed["input_ids"].shape, tiny_teacher.hidden_size)
    with pytest.raises(ConfigError, match=r"no config\.json"):
        export_student(tmp_path / "missing", out)


@pytest.mark.slow
def test_search_optimises_for_onnxruntime(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "search.py",
            "experiment=tiny",
            "latency_budget.profile.runtime=onnxruntime",
            "search.shared_store=null",
            f"hydra.run.dir={tmp_path}",
            "logger=none",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "candidates.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok and all(r["latency_median_ms"] for r in ok)
    with sqlite3.connect(tmp_path / "search.sqlite") as db:  # the teacher was timed under the same runtime
        stored = db.execute("SELECT value FROM meta WHERE key LIKE 'teacher_latency:%'").fetchall()
    assert [json.loads(v)["profile"]["runtime"] for (v,) in stored] == ["onnxruntime"]


# --- deploy.py ------------------------------------------------------------------------------------------------


def test_bundle_config_defaults_are_bundle_settings(tmp_path: Path) -> None:
    """conf/bundle/default.yaml composes under its schema, with BundleSettings' own defaults."""
    import dataclasses

    from hydra.errors import ConfigCompositionException

    from kdnas.deploy.bundle import BundleSettings
    from tests.conftest import compose_config

    cfg = compose_config("deploy", ["student=x"], tmp_path)
    options = {k: v for k, v in cfg.bundle.items() if k != "_target_"}  # type: ignore[attr-defined]
    assert options == dataclasses.asdict(BundleSettings())
    with pytest.raises(ConfigCompositionException, match="int9"):
        compose_config("deploy", ["student=x", "bundle.int9=false"], tmp_path)


def run_deploy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "deploy.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


BUNDLE_FILES = {"model.safetensors", "config.json", "tokenizer.json", "model.onnx", "model.int8.onnx",
                "onnx_check.json", "latency_card.json", "README.md", "vocab_pruning.json"}
TINY = ["experiment=tiny", "latency_budget.profile.seq_len=16", "bundle.real_texts=50"]


@pytest.mark.slow
def test_deploy_py_writes_a_checked_bundle_with_its_latency_card(tiny_student: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # per-channel int8 (the default): per-tensor scales put this tiny student's int8 cosine at the 0.99 bar, and
    # which side of it depends on the texts checked (it failed once after the splits changed)
    proc = run_deploy(f"student={tiny_student}", *TINY, f"hydra.run.dir={run_dir}", "latency_budget.speedup=0.5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {p.name for p in run_dir.iterdir()}  # the bundle is Hydra's run directory by default
    assert names >= BUNDLE_FILES, BUNDLE_FILES - names
    check = json.loads((run_dir / "onnx_check.json").read_text())
    assert check["fp32"]["passed"] and check["int8"]["passed"]
    card = json.loads((run_dir / "latency_card.json").read_text())
    assert set(card["machine"]) >= {"cpu", "cores", "isa", "memory_gib", "os", "torch", "onnxruntime", "transformers"}
    assert card["profile"]["seq_len"] == 16 and card["real_length"]["seq_len"] <= 16  # the texts' median, truncated at 16
    for timing in (card["fixed_length"], card["real_length"]):
        for side in ("student", "teacher"):
            lo, hi = timing[side]["median_ms_ci95"]
            assert lo <= timing[side]["median_ms"] <= hi and timing[side]["gflops"] > 0
        assert timing["speedup"] == pytest.approx(timing["teacher"]["median_ms"] / timing["student"]["median_ms"])
    assert card["matmul_peak_gflops"] > 0 and card["budget"]["source"].startswith("from the latency_budget config")
    assert card["meets_budget"] is True and card["target_speedup"] == 0.5  # the student is the teacher: ~1x
    readme = (run_dir / "README.md").read_text()
    assert readme.startswith("---\n") and "library_name: sentence-transformers" in readme
    assert "## Latency card" in readme and "## Forms" in readme
    assert "misses its budget" not in proc.stdout + proc.stderr
    # a student saved without sentence-transformers files gets the teacher's (tiny: no prompt, normalised)
    assert {"modules.json", "1_Pooling", "2_Normalize", "config_sentence_transformers.json"} <= names

    out = tmp_path / "fp32_only"
    proc = run_deploy(f"student={tiny_student}", *TINY, f"hydra.run.dir={tmp_path / 'run2'}", f"bundle.out_dir={out}",
                      "bundle.int8=false", "bundle.prune_vocab=false", "latency_budget.speedup=1000")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "model.onnx").is_file() and not (out / "model.int8.onnx").exists()
    assert "int8" not in json.loads((out / "onnx_check.json").read_text())
    card = json.loads((out / "latency_card.json").read_text())
    assert card["meets_budget"] is False  # an unreachable budget flips the verdict ...
    output = (proc.stdout + proc.stderr).splitlines()
    assert len([line for line in output if "misses its budget" in line]) == 1  # ... with one warning line


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["student=/no/such/student"], "student=/no/such/student does not exist"),
        (["student=."], "is not a model directory"),
        (["student=STUDENT", "experiment=tiny", "bundle.opset=9"], "opset=9 is invalid"),
        (["student=/x", "bundle.int9=false"], "int9"),  # the schema: a misspelled key is an error
        (["student=/x", "bundle.opset=seventeen"], "opset"),  # ... and so is a wrong type
    ],
)
def test_deploy_py_bad_input_is_one_clear_line(
    args: list[str], message: str, tiny_student: Path, tmp_path: Path
) -> None:
    args = [arg.replace("STUDENT", str(tiny_student)) for arg in args]
    proc = run_deploy(*args, f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert message in proc.stderr, proc.stderr[-2000:]


@pytest.mark.slow
def test_search_train_deploy_closes_the_budget_loop(tmp_path: Path) -> None:
    """best_arch.yaml records the budget it was searched for; train.py deploy=true re-times the student against it."""
    common = ["experiment=tiny", "logger=none"]
    search = subprocess.run([sys.executable, "search.py", *common, "search.shared_store=null",
                             f"hydra.run.dir={tmp_path / 'search'}"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert search.returncode == 0, search.stderr[-3000:]
    from kdnas.models.arch import ArchSpec, read_searched_for

    best = tmp_path / "search" / "best_arch.yaml"
    recorded = read_searched_for(best)
    assert recorded is not None and recorded["budget"]["speedup"] == 1.3 and recorded["teacher_latency_ms"] > 0
    ArchSpec.from_yaml(best)  # still a plain architecture file for train.py
    train = subprocess.run([sys.executable, "train.py", "experiment=tiny", "logger=csv", f"arch_file={best}", "deploy=true",
                            "latency_budget.profile.seq_len=16", f"hydra.run.dir={tmp_path / 'train'}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert train.returncode == 0, train.stderr[-3000:]
    assert read_searched_for(tmp_path / "train" / "student" / "kdnas_arch.yaml") == recorded
    card = json.loads((tmp_path / "train" / "bundle" / "latency_card.json").read_text())
    assert card["budget"]["source"].startswith("recorded by its search") and card["target_speedup"] == 1.3
    assert card["profile"] == recorded["budget"]["profile"]  # timed under the profile it was searched with
    summary = json.loads((tmp_path / "train" / "summary.json").read_text())
    assert summary["meets_budget"] == card["meets_budget"] and summary["bundle"] == str(tmp_path / "train" / "bundle")
    # the bundle (a vocabulary-pruned copy) loads with sentence-transformers and embeds as kdnas does
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    from kdnas.evaluate.embed import embed_texts

    texts = ["The file could not be opened.", "Unable to save the document"]
    bundle_dir = tmp_path / "train" / "bundle"
    st = SentenceTransformer(str(bundle_dir), device="cpu").encode(texts, normalize_embeddings=True)
    ours = embed_texts(AutoModel.from_pretrained(bundle_dir), AutoTokenizer.from_pretrained(bundle_dir), texts)
    assert (st * ours).sum(1).min() >= 0.9999
