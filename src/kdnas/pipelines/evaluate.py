"""``python evaluate.py student=DIR``: a student against its teacher, measured in the same run.

For the student and the teacher: parameters (with and without the embedding matrix), weights on disk,
latency under the budget's profile (:func:`~kdnas.latency.measure.measure_pair`: interleaved, so the
speed-up is a ratio measured side by side; on CUDA as well when torch sees a GPU), and every task of the
evaluation suite on the same texts; then the retention (student / teacher) per task and overall. With
``prune_vocab=true`` the student's vocabulary is also pruned to the training split's and the pruned student
evaluated the same way. Writes ``report.json`` and ``report.md`` (a model card) in the run directory.

``student=teacher`` evaluates the configured teacher as its own student: a sanity check (retention 1.0,
speed-up ~1.0). ``student=`` also accepts a ``train.py`` run directory (its ``student/`` is used). The
config key is ``student_dir``: ``evaluate.py`` renames ``student=`` (see :func:`student_override`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import torch
import transformers
from omegaconf import DictConfig, OmegaConf
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from kdnas.data.corpus import Corpus
from kdnas.errors import ConfigError
from kdnas.evaluate.embed import resolve_threads
from kdnas.evaluate.prune_vocab import prune_vocabulary, weights_bytes
from kdnas.evaluate.report import write_report
from kdnas.evaluate.suite import EvalPlan, EvalSuite
from kdnas.latency.measure import measure_pair
from kdnas.latency.profile import LatencyProfile
from kdnas.models.student import count_parameters
from kdnas.models.teacher import Teacher
from kdnas.nas.budget import LatencyBudget
from kdnas.pipelines.common import load_corpus, load_teacher, output_dir

log = logging.getLogger(__name__)

#: ``student=teacher`` evaluates the configured teacher itself
TEACHER_KEYWORD = "teacher"
#: tokenized by both tokenizers: equal ids (and vocabulary sizes) mean the student reads the teacher's ids
PROBE_TEXT = "query: The file could not be opened. Le fichier n'a pas pu être ouvert. ファイルを開けません。 Файл не найден."
ARCH_FIELDS = (
    "model_type", "num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "hidden_act",
    "vocab_size", "max_position_embeddings",
)  # fmt: skip


def student_override(arg: str) -> str:
    """``student=DIR`` (with any ``+`` prefix) -> ``student_dir=DIR``; any other argument unchanged.

    ``conf/student/`` is train.py's group of initialisations, and Hydra takes every ``student=...`` override
    for a choice in that group; ``evaluate.py`` renames it before Hydra parses the command line.
    """
    key, sep, value = arg.partition("=")
    return f"student_dir={value}" if sep and key.lstrip("+") == "student" else arg


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.student_dir`` against ``cfg.teacher``; returns the report written to ``report.json``."""
    if OmegaConf.is_missing(cfg, "student_dir") or cfg.get("student_dir") in (None, ""):
        raise ConfigError(
            "student is required: pass student=DIR (the student/ directory written by train.py) "
            f"or student={TEACHER_KEYWORD} (the teacher against itself)"
        )
    torch.manual_seed(int(cfg.seed))
    suite: EvalSuite = hydra.utils.instantiate(cfg.eval, _convert_="all")
    budget: LatencyBudget = hydra.utils.instantiate(cfg.latency_budget)
    student = str(cfg.student_dir)
    if student != TEACHER_KEYWORD:
        student_dir = find_student_dir(student)  # a bad path fails before the teacher and corpus load
    out = output_dir(cfg)
    teacher = load_teacher(cfg)
    if student == TEACHER_KEYWORD:
        student_dir = teacher_as_student_dir(teacher, out)
    corpus = load_corpus(cfg)
    return evaluate_student(
        student_dir,
        teacher,
        corpus,
        suite,
        budget,
        out,
        prune_vocab=bool(cfg.get("prune_vocab", False)),
        prune_min_count=int(cfg.get("prune_min_count", 1)),
        onnx=bool(cfg.get("onnx", False)),
    )


def find_student_dir(student: str) -> Path:
    """The model directory ``student`` names: itself, or the ``student/`` of a ``train.py`` run directory.

    Raises:
        ConfigError: neither holds a ``config.json``.
    """
    path = Path(student).expanduser()
    if (path / "config.json").is_file():
        return path
    if (path / "student" / "config.json").is_file():
        return path / "student"
    what = "does not exist" if not path.exists() else "is not a model directory (no config.json)"
    raise ConfigError(
        f"student={student} {what}: pass the student/ directory written by train.py "
        f"(outputs/train/<run>/student) or student={TEACHER_KEYWORD}"
    )


def teacher_as_student_dir(teacher: Teacher, out_dir: Path) -> Path:
    """The teacher's own directory, or (for a teacher built in memory) a ``save_pretrained`` copy of it."""
    source = Path(teacher.source)
    if (source / "config.json").is_file():
        return source
    directory = out_dir / "teacher_as_student"
    teacher.model.save_pretrained(directory)
    teacher.tokenizer.save_pretrained(directory)
    return directory


def load_student(student_dir: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The encoder (no pooler: mean pooling does not use it) and tokenizer of a model directory, in eval mode.

    Raises:
        ConfigError: it cannot be loaded.
    """
    try:
        try:
            model = AutoModel.from_pretrained(student_dir, add_pooling_layer=False)
        except TypeError:  # model classes without a pooler
            model = AutoModel.from_pretrained(student_dir)
        tokenizer = AutoTokenizer.from_pretrained(student_dir)
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"student={student_dir}: cannot load the model and tokenizer ({first})") from exc
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, tokenizer


def check_tokenizer(
    student_dir: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, teacher: Teacher
) -> None:
    """The student must read the teacher's token ids: same vocabulary size, same ids for a probe text.

    Raises:
        ConfigError: they differ, or the student's embedding matrix is smaller than its tokenizer.
    """
    s_ids = tokenizer(PROBE_TEXT)["input_ids"]
    t_ids = teacher.tokenizer(PROBE_TEXT)["input_ids"]
    if len(tokenizer) != len(teacher.tokenizer) or s_ids != t_ids:
        raise ConfigError(
            f"student={student_dir}: its tokenizer does not match the teacher's (teacher={teacher.name}: "
            f"{len(teacher.tokenizer)} tokens, student: {len(tokenizer)}; probe ids "
            f"{'equal' if s_ids == t_ids else 'differ'}); pass the teacher it was distilled from (teacher=...)"
        )
    if len(tokenizer) > int(model.config.vocab_size):
        raise ConfigError(
            f"student={student_dir}: its tokenizer has {len(tokenizer)} tokens but its embedding matrix only "
            f"{model.config.vocab_size} rows"
        )


def model_facts(model: PreTrainedModel, weights: int) -> dict[str, Any]:
    """Architecture, parameters (with and without the input embeddings) and weight bytes of an encoder."""
    config = model.config
    return {
        "architecture": {k: getattr(config, k, None) for k in ARCH_FIELDS},
        "parameters": count_parameters(model),
        "parameters_without_embeddings": count_parameters(model, include_embeddings=False),
        "bytes": int(weights),
    }


def teacher_weights_bytes(teacher: Teacher) -> int:
    """Weights on disk of the teacher's source directory, else the size of its fp32 state dict in safetensors."""
    source = Path(teacher.source)
    if (source / "config.json").is_file() and (size := weights_bytes(source)) > 0:
        return size
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in teacher.model.state_dict().items()}
    try:
        from safetensors.torch import save

        return len(save(state, metadata={"format": "pt"}))
    except (ImportError, RuntimeError, ValueError):  # shared tensors, or no safetensors
        return sum(v.numel() * 4 for v in state.values())


def latency_profiles(profile: LatencyProfile) -> dict[str, LatencyProfile]:
    """The budget's profile on its device, and the same profile on the other device when one is usable."""
    profiles: dict[str, LatencyProfile] = {profile.device: profile}
    if profile.device == "cpu" and torch.cuda.is_available():
        profiles["cuda"] = dataclasses.replace(profile, device="cuda")
    elif profile.device == "cuda":
        profiles["cpu"] = dataclasses.replace(profile, device="cpu")
    return profiles


def measure_latencies(student: PreTrainedModel, teacher: PreTrainedModel, budget: LatencyBudget) -> dict[str, Any]:
    """Student and teacher timed side by side on every device of :func:`latency_profiles`."""
    assert isinstance(budget.profile, LatencyProfile)
    out: dict[str, Any] = {}
    for device, profile in latency_profiles(budget.profile).items():
        pair = measure_pair(student, teacher, profile)
        out[device] = pair.to_dict()
    main = out[budget.profile.device]
    teacher_ms, student_ms = main["teacher"]["median_ms"], main["student"]["median_ms"]
    target = budget.target_ms(teacher_ms)
    out["budget"] = {
        "name": budget.name,
        "speedup": budget.speedup,
        "max_ms": budget.max_ms,
        "device": budget.profile.device,
        "target_ms": target,
        "student_ms": student_ms,
        "meets": student_ms <= target,
    }
    return out


def retention(student: dict[str, Any], teacher: dict[str, Any]) -> dict[str, Any]:
    """Student / teacher for every task's macro score, every language, and the overall macro."""

    def ratio(s: float | None, t: float | None) -> float | None:
        return None if s is None or t is None or t == 0 else s / t

    out: dict[str, Any] = {"macro": ratio(student["macro"], teacher["macro"]), "tasks": {}, "per_language": {}}
    for task, t_res in teacher["tasks"].items():
        s_res = student["tasks"].get(task, {})
        out["tasks"][task] = ratio(s_res.get("macro"), t_res.get("macro"))
        out["per_language"][task] = {
            lang: ratio(_score(s_res.get("per_language", {}).get(lang)), _score(t_row))
            for lang, t_row in t_res.get("per_language", {}).items()
        }
    return out


def _score(row: dict[str, Any] | None) -> float | None:
    """A per-language row's headline score (retrieval: mean of both directions; else accuracy)."""
    if row is None:
        return None
    return row.get("mean", row.get("accuracy"))


def _evaluate_model(
    label: str, model: PreTrainedModel | torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prefix: str, suite: EvalSuite, plan: EvalPlan
) -> dict[str, Any]:
    started = time.perf_counter()
    result = suite.run(model, tokenizer, prefix, plan=plan)
    log.info("%s: macro %.4f (%.1f s)", label, result["macro"] or float("nan"), time.perf_counter() - started)
    return result


def evaluate_student(
    student_dir: Path,
    teacher: Teacher,
    corpus: Corpus,
    suite: EvalSuite,
    budget: LatencyBudget,
    out_dir: Path,
    *,
    prune_vocab: bool = False,
    prune_min_count: int = 1,
    onnx: bool = False,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Evaluate the student in ``student_dir`` against ``teacher``; write ``report.json`` and ``report.md``.

    Args:
        student_dir: a ``save_pretrained`` directory (``train.py``'s ``student/``) or the teacher's own.
        corpus: supplies the evaluation texts (test split) and the language-id training texts (train split).
        suite: the tasks; the same texts are embedded by both models.
        budget: its profile times both models; its target says whether the student meets it.
        out_dir: where the reports (and a pruned student) are written.
        prune_vocab: also prune the student's vocabulary to the train split's and evaluate that student.
        prune_min_count: keep the ids used at least this often.
        onnx: also export the student to ONNX (fp32 and int8, checked against PyTorch), time teacher and
            student under ONNX Runtime (fp32 and int8) and score the student under both (``report["onnx"]``).
        command: the command line recorded in the report (default: this process's, ``sys.orig_argv``, as
            typed: before ``evaluate.py`` renamed ``student=``).

    Returns:
        The report (also written to ``out_dir/report.json``).

    Raises:
        ConfigError: not a model directory, a tokenizer that is not the teacher's, or a bad suite / budget.
    """
    started = time.time()
    student_dir = find_student_dir(str(student_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_student(student_dir)
    check_tokenizer(student_dir, model, tokenizer, teacher)
    plan = suite.plan(corpus)  # before any timing: a bad suite or unreachable hub data fails fast
    log.info("evaluation plan: %s", plan.describe())

    teacher_facts = {"name": teacher.name, "source": teacher.source, "text_prefix": teacher.text_prefix,
                     **model_facts(teacher.model, teacher_weights_bytes(teacher))}  # fmt: skip
    student_facts = {"dir": str(student_dir.resolve()), **model_facts(model, weights_bytes(student_dir))}
    latency = measure_latencies(model, teacher.model, budget)
    teacher_scores = _evaluate_model("teacher", teacher.model, teacher.tokenizer, teacher.text_prefix, suite, plan)
    student_scores = _evaluate_model("student", model, tokenizer, teacher.text_prefix, suite, plan)

    report: dict[str, Any] = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *(command if command is not None else sys.orig_argv[1:])]),
        "teacher": teacher_facts,
        "student": student_facts,
        "ratios": _ratios(student_facts, teacher_facts),
        "latency": latency,
        "scores": {"teacher": teacher_scores, "student": student_scores},
        "retention": retention(student_scores, teacher_scores),
        "data": {"corpus": corpus.name, "split_sizes": corpus.sizes(), "plan": plan.describe()},
        "suite": suite.settings(),
        "environment": _environment(),
    }
    if onnx:
        report["onnx"] = _evaluate_onnx(student_dir, model, tokenizer, teacher, suite, plan, budget, out_dir, teacher_scores)
    if prune_vocab:
        report["pruned"] = _evaluate_pruned(
            student_dir, teacher, corpus, suite, plan, budget, out_dir, prune_min_count, teacher_facts, teacher_scores
        )
    report["wall_seconds"] = round(time.time() - started, 1)
    json_path, md_path = write_report(report, out_dir)
    log.info("report written to %s and %s", json_path, md_path)
    return report


def _evaluate_pruned(
    student_dir: Path,
    teacher: Teacher,
    corpus: Corpus,
    suite: EvalSuite,
    plan: EvalPlan,
    budget: LatencyBudget,
    out_dir: Path,
    min_count: int,
    teacher_facts: dict[str, Any],
    teacher_scores: dict[str, Any],
) -> dict[str, Any]:
    """Prune the student's vocabulary to the train split's, then time and score the pruned student."""
    pruning = prune_vocabulary(
        student_dir, corpus.texts("train"), out_dir / "student_pruned", prefix=teacher.text_prefix, min_count=min_count
    )
    model, tokenizer = load_student(out_dir / "student_pruned")
    facts = {"dir": str((out_dir / "student_pruned").resolve()), **model_facts(model, weights_bytes(out_dir / "student_pruned"))}
    scores = _evaluate_model("pruned student", model, tokenizer, teacher.text_prefix, suite, plan)
    return {
        "pruning": pruning,
        "student": facts,
        "ratios": _ratios(facts, teacher_facts),
        "latency": measure_latencies(model, teacher.model, budget),
        "scores": scores,
        "retention": retention(scores, teacher_scores),
    }


ONNX_RUNTIMES = {"fp32": "onnxruntime", "int8": "onnxruntime_int8"}


def _evaluate_onnx(
    student_dir: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    teacher: Teacher,
    suite: EvalSuite,
    plan: EvalPlan,
    budget: LatencyBudget,
    out_dir: Path,
    teacher_scores: dict[str, Any],
) -> dict[str, Any]:
    """Export the student to ``out_dir/onnx`` (fp32 and int8), time both models under ONNX Runtime, score the student.

    Latency: teacher and student side by side (:func:`measure_pair`) under the budget's profile with
    ``runtime=onnxruntime`` / ``onnxruntime_int8`` (on the CPU when the profile's device is CUDA but this
    ONNX Runtime has no CUDA provider). Scores: the exported files in an :class:`OnnxEncoder`, embedded on
    the CPU in float32 (the graph's own precision applies); retention against the PyTorch teacher's scores.
    """
    import onnxruntime as ort

    from kdnas.deploy.onnx import export_student
    from kdnas.deploy.onnx_encoder import OnnxEncoder

    assert isinstance(budget.profile, LatencyProfile)
    started = time.perf_counter()
    export = export_student(student_dir, out_dir / "onnx", int8=True)
    log.info("ONNX export: fp32 check %s, int8 check %s (%.1f s)", export["fp32"]["passed"],
             export["int8"]["passed"], time.perf_counter() - started)  # fmt: skip
    device = budget.profile.device
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        device = "cpu"
    latency: dict[str, Any] = {}
    for kind, runtime in ONNX_RUNTIMES.items():
        profile = dataclasses.replace(budget.profile, runtime=runtime, device=device)
        latency[kind] = measure_pair(model, teacher.model, profile).to_dict()
    onnx_suite = dataclasses.replace(suite, device="cpu", dtype="float32")
    threads = resolve_threads(suite.threads) or torch.get_num_threads()
    scores: dict[str, Any] = {}
    for kind in ONNX_RUNTIMES:
        encoder = OnnxEncoder(export["files"][kind], model.config, threads=threads)
        scores[kind] = _evaluate_model(f"student (ONNX {kind})", encoder, tokenizer, teacher.text_prefix,
                                       onnx_suite, plan)  # fmt: skip
        del encoder
    return {
        "export": export,
        "latency": latency,
        "scores": scores,
        "retention": {kind: retention(s, teacher_scores) for kind, s in scores.items()},
    }


def _ratios(student: dict[str, Any], teacher: dict[str, Any]) -> dict[str, float]:
    return {
        key: student[key] / teacher[key]
        for key in ("parameters", "parameters_without_embeddings", "bytes")
        if teacher.get(key)
    }


def _environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
