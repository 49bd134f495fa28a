"""The evaluation suite and ``python evaluate.py``: metrics, probes, the teacher as its own student, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kdnas.data.corpus import Corpus, TranslationPair
from kdnas.errors import ConfigError
from kdnas.evaluate.compare import Comparison
from kdnas.evaluate.embed import embed_texts
from kdnas.evaluate.langid import plan_langid, score_langid
from kdnas.evaluate.retrieval import plan_retrieval, precision_at_1, ranked_pairs
from kdnas.evaluate.suite import EvalSuite
from kdnas.latency.profile import LatencyProfile
from kdnas.nas.budget import LatencyBudget

ROOT = Path(__file__).resolve().parents[1]
# small enough for the tiny corpus below, large enough for the tiny random teacher to beat chance
TINY_EVAL = dict(
    tasks=["retrieval", "langid"],
    languages=["de", "fr", "es", "ru", "uk", "ja", "zh_CN", "ko"],
    n_candidates=40,
    min_candidates=10,
    langid_languages=["de", "fr", "ru", "el", "ja", "ko", "zh_CN", "ar"],
    langid_train_per_language=40,
    langid_test_per_language=20,
    langid_min_train=10,
    langid_min_test=5,
)
# the overrides experiment=tiny needs (its test split has ~5-14 pairs per language)
TINY_CLI = [
    "eval.n_candidates=10", "eval.min_candidates=4", "eval.langid_train_per_language=10",
    "eval.langid_test_per_language=5", "eval.langid_min_train=5", "eval.langid_min_test=2",
]  # fmt: skip


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    from kdnas.data.gettext import load_gettext_corpus

    return load_gettext_corpus(max_texts={"train": 2500, "proxy": 50, "validation": 50, "dev": 50, "test": 1500})


@pytest.fixture(scope="module")
def tiny_budget() -> LatencyBudget:
    return LatencyBudget(name="tiny", speedup=1.5, profile=LatencyProfile(seq_len=16, warmup=1, repeats=3))


# --- metrics --------------------------------------------------------------------------------------------


def test_precision_at_1_is_one_for_identical_embeddings() -> None:
    x = unit_rows(300, 32, seed=0)
    assert precision_at_1(x, x) == 1.0


def test_precision_at_1_is_near_chance_for_random_embeddings() -> None:
    n = 500
    assert precision_at_1(unit_rows(n, 64, seed=1), unit_rows(n, 64, seed=2)) < 5 / n


def test_precision_at_1_counts_only_the_diagonal() -> None:
    keys = np.eye(4, dtype=np.float32)
    queries = keys[[0, 2, 1, 3]]  # rows 1 and 2 find each other's key
    assert precision_at_1(queries, keys) == 0.5
    with pytest.raises(ValueError):
        precision_at_1(keys[:3], keys)


def test_retrieval_sample_is_distinct_deterministic_and_shares_sources() -> None:
    pairs = [TranslationPair(f"source {i}", f"fr {i % 40}", "fr") for i in range(60)]  # 20 repeated translations
    pairs += [TranslationPair(f"source {i}", f"de {i}", "de") for i in range(60)]
    pairs += [TranslationPair(f"source {i}", f"ka {i}", "ka") for i in range(5)]
    ranked = ranked_pairs(pairs, seed=0)
    assert len(ranked["fr"]) == 40 and len({p.translation for p in ranked["fr"]}) == 40
    plan = plan_retrieval(pairs, ["fr", "de", "ka", "xx"], n_candidates=30, min_candidates=10, seed=0)
    assert set(plan.samples) == {"fr", "de"} and len(plan.samples["de"]) == 30
    assert "ka" in plan.skipped and "xx" in plan.skipped
    assert plan_retrieval(pairs, ["de"], 30, 10, seed=0).samples == {"de": plan.samples["de"]}
    assert plan_retrieval(pairs, ["de"], 30, 10, seed=1).samples["de"] != plan.samples["de"]
    shared = {p.source for p in plan.samples["fr"]} & {p.source for p in plan.samples["de"]}
    assert len(shared) >= 15  # one ranking of sources for every language


# --- embeddings and tasks on the tiny setup --------------------------------------------------------------


def test_embeddings_are_unit_length_and_in_input_order(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    texts = ["a much longer sentence than the others, with many more tokens in it", "short", "medium length text"]
    together = embed_texts(tiny_teacher.model, tiny_teacher.tokenizer, texts, batch_size=2)
    alone = np.concatenate([embed_texts(tiny_teacher.model, tiny_teacher.tokenizer, [t]) for t in texts])
    assert together.dtype == np.float32 and together.shape == (3, tiny_teacher.hidden_size)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)  # padding never leaks into the mean


def test_language_id_probe_beats_chance(tiny_teacher, corpus: Corpus) -> None:  # type: ignore[no-untyped-def]
    suite = EvalSuite(**{**TINY_EVAL, "tasks": ["langid"]})  # type: ignore[arg-type]
    plan = plan_langid(
        ranked_pairs(corpus.pairs("train"), 0), ranked_pairs(corpus.pairs("test"), 0), suite.langid_languages,
        suite.langid_train_per_language, suite.langid_test_per_language, suite.langid_min_train, suite.langid_min_test,
    )  # fmt: skip
    assert len(plan.languages) >= 6, plan.skipped
    result = score_langid(plan, suite.embed(tiny_teacher.model, tiny_teacher.tokenizer, "", plan.texts()))
    assert result["accuracy"] > 2 * result["chance"]


def test_suite_scores_every_task_and_is_deterministic(tiny_teacher, corpus: Corpus) -> None:  # type: ignore[no-untyped-def]
    suite = EvalSuite(**TINY_EVAL)  # type: ignore[arg-type]
    first = suite.run(tiny_teacher.model, tiny_teacher.tokenizer, "", corpus)
    second = suite.run(tiny_teacher.model, tiny_teacher.tokenizer, "", corpus)
    assert set(first["tasks"]) == {"retrieval", "langid"}
    assert first["tasks"] == second["tasks"] and first["macro"] == second["macro"]
    retrieval = first["tasks"]["retrieval"]
    assert 0 < retrieval["macro"] <= 1 and len(retrieval["per_language"]) >= 6
    assert first["macro"] == pytest.approx((retrieval["macro"] + first["tasks"]["langid"]["macro"]) / 2)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"tasks": ["retrieval", "nope"]}, "eval.tasks"),
        ({"tasks": []}, "eval.tasks"),
        ({"n_candidates": 10, "min_candidates": 20}, "eval.min_candidates"),
        ({"dtype": "float8"}, "eval.dtype"),
        ({"threads": 0}, "eval.threads"),
        ({"n_candidates": "500"}, "eval.n_candidates"),  # Python callers get no schema: the suite checks types too
        ({"langid_languages": ["de"]}, "eval.langid_languages"),
    ],
)
def test_bad_suite_settings_name_the_key(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        EvalSuite(**overrides)  # type: ignore[arg-type]


def test_a_corpus_without_translations_is_a_config_error() -> None:
    from kdnas.data.corpus import SPLITS, CorpusSplit

    corpus = Corpus("plain", {s: CorpusSplit(texts=["some text"]) for s in SPLITS})
    with pytest.raises(ConfigError, match="translations"):
        EvalSuite().plan(corpus)


def test_hub_tasks_offline_are_one_line_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from kdnas.evaluate.hf_tasks import plan_hub_task

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"eval\.tasks=xnli needs the Hugging Face hub") as info:
        plan_hub_task("xnli", n_train=10, n_test=10, seed=0, languages=["de"])
    assert "\n" not in str(info.value)


# --- a student against its teacher -------------------------------------------------------------------------


def test_the_teacher_as_its_own_student_has_retention_one(
    tiny_teacher, corpus: Corpus, tiny_budget: LatencyBudget, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from kdnas.evaluate.student import teacher_as_student_dir
    from kdnas.pipelines.evaluate import evaluate_student

    student_dir = teacher_as_student_dir(tiny_teacher, tmp_path)
    comparison = Comparison(tiny_teacher, corpus, EvalSuite(**TINY_EVAL), tiny_budget)  # type: ignore[arg-type]
    report = evaluate_student(student_dir, comparison, tmp_path, command=["evaluate.py"])
    assert report["retention"]["macro"] == 1.0
    assert report["retention"]["tasks"] == {"retrieval": 1.0, "langid": 1.0}
    assert all(v == 1.0 for per in report["retention"]["per_language"].values() for v in per.values())
    assert report["ratios"]["parameters"] == 1.0 and report["ratios"]["parameters_without_embeddings"] == 1.0
    assert report["ratios"]["bytes"] == pytest.approx(1.0, abs=0.01)
    # the verdict is the budget's own target for the teacher time measured beside this student
    cpu, verdict = report["latency"]["cpu"], report["latency"]["budget"]
    assert verdict["target_ms"] == pytest.approx(tiny_budget.target_ms(cpu["teacher"]["median_ms"]))
    assert verdict["student_ms"] == cpu["student"]["median_ms"]
    assert verdict["meets"] == (verdict["student_ms"] <= verdict["target_ms"])
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["retention"]["macro"] == 1.0 and saved["command"] == "python evaluate.py"
    card = (tmp_path / "report.md").read_text()
    assert "## Summary" in card and "retention 1.000" in card and "| de |" in card


def test_an_undistilled_student_gains_nothing_over_its_init_and_the_teacher_everything(
    tiny_teacher, corpus: Corpus, tiny_budget: LatencyBudget, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from kdnas.evaluate.student import teacher_as_student_dir
    from kdnas.models.arch import ArchSpec
    from kdnas.models.student import build_student
    from kdnas.pipelines.evaluate import evaluate_student

    suite = EvalSuite(**{**TINY_EVAL, "bootstrap": 200})  # type: ignore[arg-type]
    arch = ArchSpec(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, hidden_act="gelu")
    undistilled = build_student(arch, tiny_teacher.model, init="teacher")
    student_dir = tmp_path / "undistilled"
    undistilled.save_pretrained(student_dir)
    tiny_teacher.tokenizer.save_pretrained(student_dir)
    report = evaluate_student(student_dir, Comparison(tiny_teacher, corpus, suite, tiny_budget), tmp_path / "a",
                              command=["x"])
    base = report["baselines"]["teacher_init"]
    assert base["scores"]["tasks"] == report["scores"]["student"]["tasks"]  # it is its own init
    t_macro, b_macro = report["scores"]["teacher"]["macro"], base["scores"]["macro"]
    assert base["gain"]["macro"] == (0.0 if t_macro > b_macro else None)
    assert base["agreement"] == report["agreement"]
    untrained = report["baselines"]["untrained"]["scores"]["macro"]
    assert untrained != report["scores"]["student"]["macro"]
    lo, hi = report["intervals"]["retention"]["macro"]
    assert lo <= report["retention"]["macro"] <= hi

    teacher = evaluate_student(teacher_as_student_dir(tiny_teacher, tmp_path),
                               Comparison(tiny_teacher, corpus, suite, tiny_budget), tmp_path / "b", command=["x"])
    gain = teacher["baselines"]["untrained"]["gain"]["macro"]
    assert gain == (1.0 if t_macro > teacher["baselines"]["untrained"]["scores"]["macro"] else None)
    assert teacher["intervals"]["gain"]["untrained"]["macro"] in ([1.0, 1.0], None)
    assert teacher["agreement"]["in_domain"]["neighbourhood"] == 1.0
    assert teacher["agreement"]["in_domain"]["cka"] == pytest.approx(1.0)


def untimed(report: object) -> object:
    """``report`` without its wall-clock ``seconds`` entries."""
    if isinstance(report, dict):
        return {k: untimed(v) for k, v in report.items() if k != "seconds"}
    return report


def test_one_comparison_serves_several_students_as_separate_runs_would(
    tiny_teacher, corpus: Corpus, tiny_budget: LatencyBudget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from kdnas.models.arch import ArchSpec
    from kdnas.models.student import build_student
    from kdnas.pipelines.evaluate import evaluate_student

    suite = EvalSuite(**{**TINY_EVAL, "bootstrap": 50})  # type: ignore[arg-type]
    dirs = []
    for arch in (ArchSpec(2, 64, 4, 128, "gelu"), ArchSpec(1, 32, 2, 64, "relu")):
        directory = tmp_path / arch.short_name
        build_student(arch, tiny_teacher.model, init="random").save_pretrained(directory)
        tiny_teacher.tokenizer.save_pretrained(directory)
        dirs.append(directory)
    comparison = Comparison(tiny_teacher, corpus, suite, tiny_budget)
    scored: list[str] = []
    score = comparison.score
    monkeypatch.setattr(comparison, "score", lambda label, *a, **k: scored.append(label) or score(label, *a, **k))
    a, b, a_again = (evaluate_student(d, comparison, tmp_path / f"run{i}", command=["x"])
                     for i, d in enumerate([dirs[0], dirs[1], dirs[0]]))  # fmt: skip
    alone = evaluate_student(dirs[0], Comparison(tiny_teacher, corpus, suite, tiny_budget), tmp_path / "alone",
                             command=["x"])
    assert scored.count("teacher") == 1
    assert scored.count("base:untrained") == 2  # once per architecture: the second visit reuses A's
    assert b["scores"]["student"] != a["scores"]["student"]
    for key in ("scores", "retention", "baselines", "agreement", "intervals"):
        # A after B: its baselines' per-item rows are A's again, not B's
        assert untimed(a_again[key]) == untimed(a[key]) == untimed(alone[key]), key


def test_onnx_evaluation_reports_both_runtimes(
    tiny_teacher, corpus: Corpus, tiny_budget: LatencyBudget, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from kdnas.evaluate.student import teacher_as_student_dir
    from kdnas.pipelines.evaluate import evaluate_student

    suite = EvalSuite(**{**{k: v for k, v in TINY_EVAL.items() if not k.startswith("langid")}, "tasks": ["retrieval"]})  # type: ignore[arg-type]
    student_dir = teacher_as_student_dir(tiny_teacher, tmp_path)
    report = evaluate_student(student_dir, Comparison(tiny_teacher, corpus, suite, tiny_budget), tmp_path, onnx=True,
                              command=[])
    onnx = report["onnx"]
    assert onnx["export"]["fp32"]["passed"] and onnx["export"]["int8"]["passed"]
    assert (tmp_path / "onnx" / "model.onnx").is_file() and (tmp_path / "onnx" / "model.int8.onnx").is_file()
    for kind, runtime in (("fp32", "onnxruntime"), ("int8", "onnxruntime_int8")):
        pair = onnx["latency"][kind]
        assert pair["teacher"]["profile"]["runtime"] == runtime and pair["student"]["profile"]["runtime"] == runtime
        assert onnx["scores"][kind]["dtype"] == "float32" and onnx["scores"][kind]["device"] == "cpu"
        # the teacher against itself: its ONNX exports keep (nearly) all of its PyTorch scores
        assert onnx["retention"][kind]["macro"] == pytest.approx(1.0, abs=0.05), kind
    torch_retrieval = report["scores"]["student"]["tasks"]["retrieval"]
    onnx_retrieval = onnx["scores"]["fp32"]["tasks"]["retrieval"]
    assert onnx_retrieval["macro"] == pytest.approx(torch_retrieval["macro"], abs=0.02)
    for lang, row in torch_retrieval["per_language"].items():
        assert onnx_retrieval["per_language"][lang]["mean"] == pytest.approx(row["mean"], abs=0.02), lang
    card = (tmp_path / "report.md").read_text()
    assert "## ONNX Runtime" in card and "latency ONNX Runtime int8" in card and "student (ONNX fp32)" in card


def test_a_student_with_another_tokenizer_is_refused(tiny_teacher, corpus: Corpus, tiny_budget, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from kdnas.compress.prune_vocab import prune_vocabulary
    from kdnas.evaluate.student import teacher_as_student_dir
    from kdnas.pipelines.evaluate import evaluate_student

    pruned = tmp_path / "pruned"
    prune_vocabulary(teacher_as_student_dir(tiny_teacher, tmp_path), ["hello world"], pruned, verify_texts=0)
    with pytest.raises(ConfigError, match="tokenizer does not match the teacher's"):
        evaluate_student(pruned, Comparison(tiny_teacher, corpus, EvalSuite(**TINY_EVAL), tiny_budget), tmp_path)  # type: ignore[arg-type]


def test_a_vocabulary_pruned_student_is_recognised(tiny_teacher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A pruned copy renumbers its pieces: it reads the teacher's pieces, so it is accepted (and a pruned copy
    that lost the probe's pieces is not, as the test above shows)."""
    from kdnas.compress.prune_vocab import prune_vocabulary
    from kdnas.evaluate.student import PROBE_TEXT, load_student, teacher_as_student_dir

    pruned = tmp_path / "pruned"
    prune_vocabulary(teacher_as_student_dir(tiny_teacher, tmp_path), [PROBE_TEXT, "hello world"], pruned, verify_texts=0)
    model, tokenizer = load_student(pruned, tiny_teacher)
    assert len(tokenizer) < len(tiny_teacher.tokenizer) and model.config.vocab_size == len(tokenizer)


def test_student_directory_resolution(tmp_path: Path) -> None:
    from kdnas.evaluate.student import find_student_dir

    (tmp_path / "run" / "student").mkdir(parents=True)
    (tmp_path / "run" / "student" / "config.json").write_text("{}")
    assert find_student_dir(str(tmp_path / "run")) == tmp_path / "run" / "student"  # a train.py run directory
    assert find_student_dir(tmp_path / "run" / "student") == tmp_path / "run" / "student"
    with pytest.raises(ConfigError, match="does not exist"):
        find_student_dir(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="is not a model directory"):
        find_student_dir(str(tmp_path))


def test_a_missing_student_is_a_config_error(tmp_path: Path) -> None:
    from kdnas.pipelines.evaluate import evaluate
    from tests.conftest import compose_config

    with pytest.raises(ConfigError, match="student is required: pass student=DIR"):
        evaluate(compose_config("evaluate", ["experiment=tiny"], tmp_path))  # type: ignore[arg-type]


def test_configs_compose_with_experiment_tiny(tmp_path: Path) -> None:
    from tests.conftest import compose_config

    cfg = compose_config("evaluate", ["experiment=tiny", "student=x", *TINY_CLI], tmp_path)
    assert cfg.teacher._target_.endswith("load_tiny_random_teacher") and cfg.eval.n_candidates == 10  # type: ignore[attr-defined]
    suites = {}
    for name in ("default", "quick", "xnli"):
        cfg = compose_config("evaluate", [f"eval={name}", "student=x"], tmp_path)
        suites[name] = EvalSuite(**{k: v for k, v in cfg.eval.items() if k != "_target_"})  # type: ignore[attr-defined]
    default, quick, xnli = suites["default"], suites["quick"], suites["xnli"]
    assert set(quick.languages) < set(default.languages) and quick.n_candidates < default.n_candidates
    assert set(quick.langid_languages) < set(default.langid_languages)
    assert xnli.tasks == [*default.tasks, "xnli", "pawsx"] and xnli.languages == default.languages


# --- the command line ---------------------------------------------------------------------------------------


def run_script(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train_tiny")
    proc = run_script("train.py", "experiment=tiny", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "student"


def test_evaluate_py_writes_both_reports(tiny_student: Path, tmp_path: Path) -> None:
    proc = run_script(
        "evaluate.py", "experiment=tiny", f"student={tiny_student}", f"hydra.run.dir={tmp_path}", "prune_vocab=true",
        "eval.bootstrap=200", *TINY_CLI,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["student"]["architecture"]["hidden_size"] == 32
    assert report["teacher"]["name"] == "tiny_random"
    assert report["student"]["dir"] == str(tiny_student.resolve())  # student=DIR reached the pipeline as typed
    assert report["pruned"]["pruning"]["verification"]["ok"]
    assert report["pruned"]["student"]["parameters"] < report["student"]["parameters"]
    card = (tmp_path / "report.md").read_text()
    assert "## Pruned vocabulary" in card and f"evaluate.py experiment=tiny student={tiny_student}" in card
    # every section of the protocol: split, out-of-domain, baselines, agreement, languages, intervals
    assert report["data"]["plan"]["split"] == "test" and report["suite"]["split"] == "test"
    assert report["scores"]["student"]["tasks"]["ood_retrieval"]["per_language"]
    assert report["retention"]["out_of_domain_macro"] is not None
    assert set(report["baselines"]) == {"untrained", "teacher_init"}
    assert set(report["agreement"]) == {"in_domain", "out_of_domain"}
    assert report["languages"]["retrieval"]["worst"] in report["retention"]["per_language"]["retrieval"]
    assert report["intervals"]["retention"]["macro"] and report["latency"]["cpu"]["speedup_ci"]
    for title in ("## Against the undistilled architecture", "## Agreement with the teacher", "## Languages kept worst",
                  "Out-of-domain cross-lingual retrieval", "**Out-of-domain data**"):  # fmt: skip
        assert title in card, title


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["student=/no/such/student"], "student=/no/such/student does not exist"),
        (["experiment=tiny"], "student is required: pass student=DIR"),
        (["experiment=tiny", "student=teacher", "eval.tasks=[retrieval,nope]"], "eval.tasks"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = run_script("evaluate.py", *args, f"hydra.run.dir={tmp_path}")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert message in proc.stderr, proc.stderr[-2000:]
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1


def test_device_dtype_resolution() -> None:
    from kdnas.evaluate.embed import resolve_dtype

    assert resolve_dtype("bfloat16") == torch.bfloat16
    assert resolve_dtype("auto", "cuda") == torch.float32  # bfloat16 only on a CPU with native support
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("int3")


@pytest.mark.parametrize(("cores", "expected"), [(None, 1), (1, 1), (2, 1), (6, 3), (64, 4)])
def test_auto_threads_are_half_the_cores_from_1_to_4(
    cores: int | None, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kdnas.evaluate import embed

    monkeypatch.setattr(embed.os, "cpu_count", lambda: cores)
    assert embed.resolve_threads("auto") == expected


@pytest.mark.parametrize("bad", [0, True, "four", 2.0])
def test_bad_threads_name_the_key(bad: object) -> None:
    from kdnas.evaluate.embed import resolve_threads

    with pytest.raises(ConfigError, match=r"eval\.threads="):
        resolve_threads(bad, key="eval.threads")  # type: ignore[arg-type]
    assert resolve_threads(None) is None and resolve_threads(3) == 3

