"""The evaluation suite: which tasks, languages and sizes; plans once, embeds each text once per model.

``conf/eval/*.yaml`` instantiate :class:`EvalSuite`. :meth:`EvalSuite.plan` chooses every text the tasks
need from the corpus (deterministic for a seed, and independent of the model), :meth:`EvalSuite.run`
embeds their union once with a model and scores every task from those embeddings, so a teacher and its
student are scored on exactly the same texts.

Tasks:

- ``retrieval``: English <-> translation precision@1 on ``eval.split`` (``test`` for final reports, ``dev`` for
  every choice; :mod:`kdnas.evaluate.retrieval`);
- ``langid``: a linear language-identification probe, fitted on the **train** split and scored on
  ``eval.split`` (:mod:`kdnas.evaluate.langid`); its test texts are the retrieval sample's translations;
- ``ood_retrieval``: the same retrieval task on translations of other software, which the corpus does not
  contain (:mod:`kdnas.data.out_of_domain`: every English source also in the corpus is removed);
- ``xnli``, ``pawsx``: hub data sets, a head on frozen pair features (:mod:`kdnas.evaluate.hf_tasks`).

``macro`` averages the in-domain tasks (retrieval, langid, hub tasks); ``out_of_domain_macro`` the
out-of-domain ones, kept apart so that the two can be compared. The plan also holds the texts of the
task-agnostic agreement scores (:mod:`kdnas.evaluate.agreement`), which the comparison computes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from kdnas.data.corpus import Corpus
from kdnas.data.out_of_domain import load_out_of_domain
from kdnas.errors import ConfigError
from kdnas.evaluate.embed import (
    DTYPES,
    embed_texts,
    prepared_model,
    resolve_device,
    resolve_dtype,
    resolve_threads,
)
from kdnas.evaluate.hf_tasks import HUB_TASKS, plan_hub_task, score_hub_task
from kdnas.evaluate.langid import plan_langid, score_langid
from kdnas.evaluate.plan import EvalPlan
from kdnas.evaluate.retrieval import RetrievalPlan, plan_retrieval, ranked_pairs, score_retrieval
from kdnas.utils.checks import check_int
from kdnas.utils.torch_context import torch_threads

CORPUS_TASKS: tuple[str, ...] = ("retrieval", "langid")
OOD_TASKS: tuple[str, ...] = ("ood_retrieval",)
TASKS: tuple[str, ...] = (*CORPUS_TASKS, *OOD_TASKS, *HUB_TASKS)
#: the comparison's baselines: the student's architecture untrained (random weights) and sliced from the
#: teacher but not distilled
BASELINES: tuple[str, ...] = ("untrained", "teacher_init")

#: the settings that count something: integers >= 1 (the ``eval`` schema checks the type, :class:`EvalSuite` the range)
COUNT_FIELDS: tuple[str, ...] = (
    "n_candidates", "min_candidates", "langid_train_per_language", "langid_test_per_language", "langid_min_train",
    "langid_min_test", "probe_max_iter", "hub_train_size", "hub_test_size", "max_length", "batch_size",
    "ood_min_candidates", "agreement_k", "agreement_texts",
)  # fmt: skip
#: 18 languages in 11 scripts (Latin, Cyrillic, Greek, Georgian, Arabic, Devanagari, Thai, Han, kana,
#: Hangul): the first 15 have >= 500 usable test pairs in the gettext corpus; ar, hi and th (~230-280)
#: are scored among all their pairs (eval.min_candidates).
DEFAULT_LANGUAGES: tuple[str, ...] = (
    "de", "fr", "es", "it", "pt_BR", "pl", "tr",
    "ru", "uk", "bg", "el", "ka",
    "ja", "zh_CN", "ko",
    "ar", "hi", "th",
)  # fmt: skip
#: the retrieval languages plus six with close neighbours (sv, nl, id/vi, he, zh_TW next to zh_CN).
DEFAULT_LANGID_LANGUAGES: tuple[str, ...] = (*DEFAULT_LANGUAGES, "sv", "nl", "vi", "id", "he", "zh_TW")


@dataclass
class EvalSuite:
    """What to evaluate an encoder on, and how much of it.

    Args:
        tasks: among :data:`TASKS`.
        languages: retrieval languages (gettext locale names).
        n_candidates: pairs per retrieval language (the candidates each query is ranked against).
        min_candidates: a language with fewer usable test pairs is skipped; between this and
            ``n_candidates``, it is scored among all it has.
        langid_languages: the probe's classes (at least two must have enough data).
        langid_train_per_language / langid_test_per_language: translations per language from the train /
            test split.
        langid_min_train / langid_min_test: fewer and the language is left out of the probe.
        probe_max_iter / probe_l2: L-BFGS iterations and L2 penalty of the probes (langid, hub heads).
        hub_train_size / hub_test_size: pairs for the hub tasks' head (English train) and per test language.
        hub_languages: per hub task, the test languages (missing: all of the task's).
        max_length / batch_size: of the embedding passes.
        device: where the embedding passes run: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``.
        threads: CPU threads of the embedding passes: ``auto`` (half the cores, 1 to 4; see
            :mod:`kdnas.evaluate.embed`), an integer, or ``None`` (torch's setting).
        dtype: compute dtype of the embedding passes: ``auto`` (bfloat16 on a CPU with native bfloat16,
            else float32; see :mod:`kdnas.evaluate.embed`), ``float32``, ``bfloat16`` or ``float16``.
        split: the corpus split the corpus tasks are scored on: ``test`` (final reports, read once) or ``dev``
            (every choice: levers, recipes, thresholds).
        ood_min_candidates: an out-of-domain language with fewer usable pairs is skipped.
        agreement_k: neighbours per text of the neighbourhood-agreement score.
        agreement_texts: texts per domain (sampled from the retrieval texts) of the agreement scores.
        bootstrap: resamples of the bootstrap intervals (0: no intervals).
        baselines: among :data:`BASELINES`; gain retention is measured against each.
        seed: chooses the samples (the same seed gives the same texts) and the resamples.
    """

    tasks: list[str] = field(default_factory=lambda: [*CORPUS_TASKS, *OOD_TASKS])
    languages: list[str] = field(default_factory=lambda: list(DEFAULT_LANGUAGES))
    n_candidates: int = 500
    min_candidates: int = 200
    langid_languages: list[str] = field(default_factory=lambda: list(DEFAULT_LANGID_LANGUAGES))
    langid_train_per_language: int = 100
    langid_test_per_language: int = 100
    langid_min_train: int = 20
    langid_min_test: int = 10
    probe_max_iter: int = 200
    probe_l2: float = 1e-3
    hub_train_size: int = 2000
    hub_test_size: int = 1000
    hub_languages: dict[str, list[str]] = field(default_factory=dict)
    max_length: int = 64
    batch_size: int = 64
    device: str = "auto"
    threads: int | str | None = "auto"
    dtype: str = "auto"
    split: str = "test"
    ood_min_candidates: int = 150
    agreement_k: int = 10
    agreement_texts: int = 2000
    bootstrap: int = 1000
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    seed: int = 0

    def __post_init__(self) -> None:
        self.tasks = [str(t) for t in self.tasks]
        self.languages = [str(x) for x in self.languages]
        self.langid_languages = [str(x) for x in self.langid_languages]
        self.hub_languages = {str(k): [str(x) for x in v] for k, v in dict(self.hub_languages).items()}
        self.baselines = [str(b) for b in self.baselines]
        if unknown_base := [b for b in self.baselines if b not in BASELINES]:
            raise ConfigError(f"eval.baselines: unknown {unknown_base}; choose among {list(BASELINES)} (or [])")
        check_int("eval.bootstrap", self.bootstrap, minimum=0)
        if self.agreement_k >= self.agreement_texts:
            raise ConfigError(f"eval.agreement_k={self.agreement_k} must be below eval.agreement_texts={self.agreement_texts}")
        if not self.tasks:
            raise ConfigError(f"eval.tasks is empty: choose among {list(TASKS)}")
        if unknown := [t for t in self.tasks if t not in TASKS]:
            raise ConfigError(f"eval.tasks: unknown task(s) {unknown}; choose among {list(TASKS)}")
        if len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"eval.tasks lists a task twice: {self.tasks}")
        for name in COUNT_FIELDS:
            check_int(f"eval.{name}", getattr(self, name), minimum=1)
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise ConfigError(f"eval.dtype={self.dtype!r} is unknown: use auto or one of {sorted(DTYPES)}")
        try:
            resolve_device(self.device)
        except ValueError as exc:
            raise ConfigError(f"eval.device={self.device!r}: {exc}") from exc
        resolve_threads(self.threads, key="eval.threads")
        if self.min_candidates > self.n_candidates:
            raise ConfigError(
                f"eval.min_candidates={self.min_candidates} exceeds eval.n_candidates={self.n_candidates}"
            )
        if "retrieval" in self.tasks and not self.languages:
            raise ConfigError("eval.languages is empty: list the retrieval languages (e.g. [de, fr, ja])")
        if "langid" in self.tasks and len(self.langid_languages) < 2:
            raise ConfigError("eval.langid_languages: list at least two languages")
        if unknown_hub := sorted(set(self.hub_languages) - set(HUB_TASKS)):
            raise ConfigError(f"eval.hub_languages: {unknown_hub} are not hub tasks ({sorted(HUB_TASKS)})")

    # --- planning -----------------------------------------------------------------------------------------

    def plan(self, corpus: Corpus) -> EvalPlan:
        """Choose every task's texts (model-independent).

        Raises:
            ConfigError: the corpus has no translation pairs, no language has enough data for a task, or a
                hub task's data is unreachable.
        """
        if self.split not in corpus.splits or self.split in ("train", "proxy"):
            held_out = [s for s in corpus.splits if s not in ("train", "proxy")]
            raise ConfigError(f"eval.split={self.split!r}: choose a held-out split of the corpus ({held_out}): dev or test")
        plan = EvalPlan(split=self.split)
        if any(t in CORPUS_TASKS for t in self.tasks):
            if not corpus.pairs(self.split):
                raise ConfigError(
                    f"eval.tasks={[t for t in self.tasks if t in CORPUS_TASKS]} needs a corpus with translations "
                    f"(data=gettext); {corpus.name!r} has none: use data=gettext or set eval.tasks"
                )
            test_ranked = ranked_pairs(corpus.pairs(self.split), self.seed)
            if "retrieval" in self.tasks:
                plan.retrieval = plan_retrieval(
                    corpus.pairs(self.split), self.languages, self.n_candidates, self.min_candidates, self.seed,
                    ranked=test_ranked,
                )  # fmt: skip
                if not plan.retrieval.samples:
                    raise ConfigError(
                        f"eval.languages: no retrieval language has >= eval.min_candidates={self.min_candidates} "
                        f"{self.split} pairs ({plan.retrieval.skipped}); lower eval.min_candidates or choose other languages"
                    )
                plan.agreement["in_domain"] = self._agreement_sample(plan.retrieval)
            if "langid" in self.tasks:
                plan.langid = plan_langid(
                    ranked_pairs(corpus.pairs("train"), self.seed), test_ranked, self.langid_languages,
                    self.langid_train_per_language, self.langid_test_per_language,
                    self.langid_min_train, self.langid_min_test,
                )  # fmt: skip
                if len(plan.langid.languages) < 2:
                    raise ConfigError(
                        "eval.langid_languages: fewer than two languages have eval.langid_min_train / "
                        f"eval.langid_min_test translations ({plan.langid.skipped}); lower them"
                    )
        if "ood_retrieval" in self.tasks:
            self._plan_out_of_domain(plan, corpus)
        for name in self.tasks:
            if name in HUB_TASKS:
                plan.hub[name] = plan_hub_task(
                    name, self.hub_train_size, self.hub_test_size, self.seed, self.hub_languages.get(name)
                )
        return plan

    def _plan_out_of_domain(self, plan: EvalPlan, corpus: Corpus) -> None:
        """The out-of-domain retrieval sample, with every English source of the corpus excluded."""
        corpus_sources = {p.source for split in corpus.splits for p in corpus.pairs(split)}
        ood = load_out_of_domain(exclude_sources=corpus_sources)
        plan.ood_retrieval = plan_retrieval(
            ood.pairs, self.languages, self.n_candidates, self.ood_min_candidates, self.seed
        )
        plan.ood_info = {"distributions": dict(ood.distributions), "removed_sources": ood.removed_sources}
        if not plan.ood_retrieval.samples:
            raise ConfigError(
                f"eval.languages: no language has >= eval.ood_min_candidates={self.ood_min_candidates} out-of-domain "
                f"pairs ({plan.ood_retrieval.skipped}); lower eval.ood_min_candidates or drop ood_retrieval from eval.tasks"
            )
        plan.agreement["out_of_domain"] = self._agreement_sample(plan.ood_retrieval)

    def _agreement_sample(self, retrieval: RetrievalPlan) -> list[str]:
        """Up to ``agreement_texts`` of the retrieval sample's texts, a seeded choice."""
        texts = retrieval.texts()
        if len(texts) <= self.agreement_texts:
            return texts
        chosen = np.random.default_rng(self.seed).choice(len(texts), size=self.agreement_texts, replace=False)
        return [texts[i] for i in sorted(chosen)]

    # --- scoring ------------------------------------------------------------------------------------------

    def embed(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prefix: str, texts: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """text -> embedding for ``texts`` (each embedded once), on ``eval.device`` in ``eval.dtype``."""
        unique = list(dict.fromkeys(texts))
        device = resolve_device(self.device)
        threads = resolve_threads(self.threads) if device.type == "cpu" else None
        with prepared_model(model, device, resolve_dtype(self.dtype, device)) as m, torch_threads(threads):
            rows = embed_texts(m, tokenizer, unique, prefix=prefix, max_length=self.max_length, batch_size=self.batch_size)
        return dict(zip(unique, rows, strict=True))

    def compute(self) -> dict[str, Any]:
        """Where the embedding passes run, e.g. ``{"device": "cpu", "dtype": "bfloat16", "threads": 1}``."""
        device = resolve_device(self.device)
        return {
            "device": device.type,
            "dtype": str(resolve_dtype(self.dtype, device)).removeprefix("torch."),
            "threads": (resolve_threads(self.threads) or torch.get_num_threads()) if device.type == "cpu" else None,
        }

    def score(self, plan: EvalPlan, embedding: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Every planned task's scores from precomputed embeddings.

        ``macro`` is the mean of the in-domain task macros, ``out_of_domain_macro`` of the out-of-domain ones;
        ``items`` holds every task's per-item scores per language (for intervals; not for reports).
        """
        results: dict[str, Any] = {}
        for name in self.tasks:
            if name == "retrieval" and plan.retrieval is not None:
                results[name] = score_retrieval(plan.retrieval, embedding)
            elif name == "ood_retrieval" and plan.ood_retrieval is not None:
                results[name] = score_retrieval(plan.ood_retrieval, embedding)
            elif name == "langid" and plan.langid is not None:
                results[name] = score_langid(plan.langid, embedding, self.probe_max_iter, self.probe_l2)
            elif name in plan.hub:
                results[name] = score_hub_task(plan.hub[name], embedding, self.probe_max_iter, self.probe_l2)
        return {
            "tasks": results,
            "macro": _mean_macro(results, in_domain=True),
            "out_of_domain_macro": _mean_macro(results, in_domain=False),
            "items": {task: res.pop("items", {}) for task, res in results.items()},
        }

    def run(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        prefix: str,
        corpus: Corpus | None = None,
        plan: EvalPlan | None = None,
        embeddings_out: dict[str, np.ndarray] | None = None,
    ) -> dict[str, Any]:
        """Evaluate one encoder: plan (unless ``plan`` is given), embed every text once, score every task.

        ``embeddings_out``, when given, receives every text's embedding (text -> vector).

        Returns:
            ``{"tasks": {task: {"per_language": ..., "macro": ...}}, "macro", "texts_embedded",
            "seconds": {"embed", "score"}}``.
        """
        if plan is None:
            if corpus is None:
                raise ValueError("EvalSuite.run needs a corpus or a plan")
            plan = self.plan(corpus)
        start = time.perf_counter()
        texts = plan.texts()
        embedding = self.embed(model, tokenizer, prefix, texts)
        if embeddings_out is not None:
            embeddings_out.update(embedding)
        embedded = time.perf_counter()
        result = self.score(plan, embedding)
        result["texts_embedded"] = len(texts)
        result.update(self.compute())
        result["seconds"] = {
            "embed": round(embedded - start, 2),
            "score": round(time.perf_counter() - embedded, 2),
        }
        return result

    def settings(self) -> dict[str, Any]:
        """The suite's settings, for reports."""
        return {
            "tasks": list(self.tasks),
            "languages": list(self.languages),
            "n_candidates": self.n_candidates,
            "min_candidates": self.min_candidates,
            "langid_languages": list(self.langid_languages),
            "langid_train_per_language": self.langid_train_per_language,
            "langid_test_per_language": self.langid_test_per_language,
            "max_length": self.max_length,
            "device": self.device,
            "threads": self.threads,
            "dtype": self.dtype,
            "split": self.split,
            "ood_min_candidates": self.ood_min_candidates,
            "agreement_k": self.agreement_k,
            "agreement_texts": self.agreement_texts,
            "bootstrap": self.bootstrap,
            "baselines": list(self.baselines),
            "seed": self.seed,
        }


def macro_tasks(tasks: Sequence[str]) -> list[str]:
    """The tasks of ``tasks`` that the overall (in-domain) ``macro`` averages."""
    return [t for t in tasks if t not in OOD_TASKS]


def _mean_macro(results: Mapping[str, Mapping[str, Any]], in_domain: bool) -> float | None:
    macros = [r["macro"] for t, r in results.items() if (t not in OOD_TASKS) == in_domain and r.get("macro") is not None]
    return float(np.mean(macros)) if macros else None
