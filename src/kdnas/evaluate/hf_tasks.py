"""Optional hub tasks: XNLI and PAWS-X, zero-shot cross-lingual, with a small head on frozen embeddings.

For users with access to the Hugging Face hub (the ``datasets`` library downloads the data; a local
``datasets`` cache also works offline). A sentence pair ``(a, b)`` becomes the features
``[u, v, |u - v|, u * v]`` of its mean-pooled embeddings (InferSent / Sentence-BERT style); a multinomial
logistic regression head (:func:`kdnas.evaluate.langid.train_probe`) is fitted on ``n_train`` English
training pairs and scored on ``n_test`` test pairs of every language: the encoder stays frozen, so the
score measures what its embeddings carry, comparably for a teacher and its students.

Without the hub (and no cached copy), planning the task raises a one-line
:class:`~kdnas.errors.ConfigError` before any model runs.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kdnas.errors import ConfigError
from kdnas.evaluate.langid import train_probe


@dataclass(frozen=True)
class HubTask:
    """A sentence-pair classification data set on the hub, one config per language."""

    name: str
    path: str  # hub id of the data set
    fields: tuple[str, str]  # the two text columns
    num_labels: int
    languages: tuple[str, ...]  # its configs
    train_language: str = "en"


HUB_TASKS: dict[str, HubTask] = {
    "xnli": HubTask(
        "xnli",
        "facebook/xnli",
        ("premise", "hypothesis"),
        3,
        ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"),
    ),
    "pawsx": HubTask(
        "pawsx", "google-research-datasets/paws-x", ("sentence1", "sentence2"), 2, ("de", "en", "es", "fr", "ja", "ko", "zh")
    ),
}


@dataclass
class PairData:
    """Sentence pairs and their labels."""

    first: list[str]
    second: list[str]
    labels: np.ndarray  # (N,) int64

    def texts(self) -> list[str]:
        return [*self.first, *self.second]


@dataclass
class HubTaskPlan:
    task: HubTask
    train: PairData  # the training language's
    test: dict[str, PairData]  # per language

    def texts(self) -> list[str]:
        out: dict[str, None] = dict.fromkeys(self.train.texts())
        for data in self.test.values():
            out.update(dict.fromkeys(data.texts()))
        return list(out)


def _load(task: HubTask, language: str, split: str, n: int, seed: int) -> PairData:
    """``n`` labelled pairs (a seeded sample) of one language and split, from the hub or the local cache.

    Raises:
        ConfigError: the data cannot be loaded (no hub access and no cached copy, or a missing config).
    """
    try:
        import datasets

        data = datasets.load_dataset(task.path, language, split=split)
    except Exception as exc:  # offline, unreachable, renamed: every cause means the same to the user
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(
            f"eval.tasks={task.name} needs the Hugging Face hub to download {task.path} ({language}, {split}): "
            f"{first_line}; connect to the hub (unset HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) or remove "
            f"{task.name} from eval.tasks"
        ) from exc
    a, b = task.fields
    rows = [i for i, label in enumerate(data["label"]) if 0 <= int(label) < task.num_labels]
    rows = sorted(random.Random(f"{seed}:{task.name}:{language}:{split}").sample(rows, min(n, len(rows))))
    subset = data.select(rows)
    return PairData(
        [str(x) for x in subset[a]], [str(x) for x in subset[b]], np.asarray(subset["label"], dtype=np.int64)
    )


def plan_hub_task(
    name: str, n_train: int, n_test: int, seed: int, languages: Sequence[str] | None = None
) -> HubTaskPlan:
    """Load the training pairs (in the task's training language) and each language's test pairs.

    Raises:
        ConfigError: unknown task or language, or the data is unreachable.
    """
    task = HUB_TASKS.get(name)
    if task is None:
        raise ConfigError(f"eval.tasks: {name!r} is not a hub task; choose among {sorted(HUB_TASKS)}")
    chosen = list(languages) if languages else list(task.languages)
    if unknown := sorted(set(chosen) - set(task.languages)):
        raise ConfigError(f"eval.hub_languages.{name}: {unknown} not among {list(task.languages)}")
    train = _load(task, task.train_language, "train", n_train, seed)
    test = {lang: _load(task, lang, "test", n_test, seed) for lang in chosen}
    return HubTaskPlan(task, train, test)


def pair_features(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``[u, v, |u - v|, u * v]`` for rows ``u`` of ``first`` and ``v`` of ``second``."""
    return np.concatenate([first, second, np.abs(first - second), first * second], axis=1)


def score_hub_task(
    plan: HubTaskPlan, embedding: Mapping[str, np.ndarray], max_iter: int = 200, l2: float = 1e-3
) -> dict[str, object]:
    """Fit the head on the training pairs, report accuracy per test language and their mean (``macro``)."""

    def features(data: PairData) -> np.ndarray:
        return pair_features(
            np.stack([embedding[t] for t in data.first]), np.stack([embedding[t] for t in data.second])
        )

    head = train_probe(features(plan.train), plan.train.labels, plan.task.num_labels, max_iter=max_iter, l2=l2)
    items = {lang: (head.predict(features(data)) == data.labels).astype(np.float64) for lang, data in plan.test.items()}
    per_language = {lang: {"accuracy": float(hits.mean()), "n_test": len(hits)} for lang, hits in items.items()}
    return {
        "per_language": per_language,
        "items": items,
        "macro": float(np.mean([r["accuracy"] for r in per_language.values()])) if per_language else None,
        "n_train": len(plan.train.labels),
        "train_language": plan.task.train_language,
        "dataset": plan.task.path,
        "skipped": {},
    }
