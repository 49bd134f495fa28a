"""Language identification: a linear probe on frozen sentence embeddings.

A multinomial logistic regression (standardised features, L2 penalty, full-batch L-BFGS from zeros, so
deterministic) is fitted on the embeddings of translations from the **train** split and scored on
translations from the **test** split (disjoint sentences: the corpus splits by English source). It asks
how much of the language an encoder keeps in its mean-pooled embedding — a distilled student may keep the
meaning (retrieval) and lose the language, or the reverse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from kdnas.data.corpus import TranslationPair


@dataclass
class LinearProbe:
    """A fitted multinomial logistic regression on standardised features."""

    mean: torch.Tensor  # (H,)
    std: torch.Tensor  # (H,)
    weight: torch.Tensor  # (H, C)
    bias: torch.Tensor  # (C,)

    def logits(self, x: np.ndarray) -> torch.Tensor:
        z = (torch.as_tensor(x, dtype=torch.float64) - self.mean) / self.std  # (N, H)
        return z @ self.weight + self.bias  # (N, C)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.logits(x).argmax(dim=1).numpy()


def train_probe(
    x: np.ndarray, y: np.ndarray, n_classes: int, max_iter: int = 200, l2: float = 1e-3
) -> LinearProbe:
    """Fit a multinomial logistic regression of ``y`` on ``x`` (rows are examples).

    Features are standardised with the training mean and standard deviation; the loss is the mean
    cross-entropy plus ``l2 / 2 * ||W||^2``, minimised by L-BFGS (strong Wolfe line search, at most
    ``max_iter`` iterations) from zero weights in float64: the same data gives the same probe.

    Runs on one thread: the problem is small, and on a busy 2-core machine two threads made it 50x slower
    (27 s against 0.5 s for 2,400 x 384 features and 24 classes).
    """
    features = torch.as_tensor(x, dtype=torch.float64)  # (N, H)
    labels = torch.as_tensor(y, dtype=torch.long)  # (N,)
    mean = features.mean(dim=0)
    std = features.std(dim=0, unbiased=False).clamp(min=1e-8)
    z = (features - mean) / std
    weight = torch.zeros(features.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ weight + bias, labels) + 0.5 * l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.enable_grad():
            optimizer.step(closure)
    finally:
        torch.set_num_threads(threads)
    return LinearProbe(mean, std, weight.detach(), bias.detach())


@dataclass
class LangIdPlan:
    """Train and test translations per language, and the languages left out (with the reason)."""

    train: dict[str, list[str]]
    test: dict[str, list[str]]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        return list(self.train)

    def texts(self) -> list[str]:
        out: dict[str, None] = {}
        for split in (self.train, self.test):
            for texts in split.values():
                out.update(dict.fromkeys(texts))
        return list(out)


def plan_langid(
    train_ranked: Mapping[str, list[TranslationPair]],
    test_ranked: Mapping[str, list[TranslationPair]],
    languages: Sequence[str],
    n_train: int,
    n_test: int,
    min_train: int,
    min_test: int,
) -> LangIdPlan:
    """Each language's first ``n_train`` / ``n_test`` translations of the ranked train / test pairs.

    The rankings are :func:`kdnas.evaluate.retrieval.ranked_pairs` of each split, so the test texts are
    those the retrieval task embeds already. A language with fewer than ``min_train`` / ``min_test`` is
    skipped.
    """
    train: dict[str, list[str]] = {}
    test: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}
    for language in languages:
        tr = [p.translation for p in train_ranked.get(language, [])[:n_train]]
        te = [p.translation for p in test_ranked.get(language, [])[:n_test]]
        if len(tr) < min_train or len(te) < min_test:
            skipped[language] = (
                f"{len(tr)} train / {len(te)} test translations < eval.langid_min_train={min_train} / "
                f"eval.langid_min_test={min_test}"
            )
            continue
        train[language], test[language] = tr, te
    return LangIdPlan(train, test, skipped)


def score_langid(
    plan: LangIdPlan, embedding: Mapping[str, np.ndarray], max_iter: int = 200, l2: float = 1e-3
) -> dict[str, object]:
    """Fit the probe on the plan's train texts, score it on its test texts.

    Returns:
        ``{"per_language": {lang: {"accuracy", "n_test"}}, "accuracy" (over all test texts), "macro" (mean
        per-language accuracy), "n_train", "n_test", "chance", "skipped"}``; scores are ``None`` when fewer
        than two languages remain.
    """
    languages = plan.languages
    result: dict[str, object] = {"skipped": dict(plan.skipped), "languages": languages}
    if len(languages) < 2:
        return {**result, "per_language": {}, "items": {}, "accuracy": None, "macro": None, "n_train": 0, "n_test": 0}
    x_train, y_train = _stack(plan.train, languages, embedding)
    x_test, y_test = _stack(plan.test, languages, embedding)
    probe = train_probe(x_train, y_train, len(languages), max_iter=max_iter, l2=l2)
    correct = probe.predict(x_test) == y_test
    per_language = {
        lang: {"accuracy": float(correct[y_test == k].mean()), "n_test": int((y_test == k).sum())}
        for k, lang in enumerate(languages)
    }
    return {
        **result,
        "per_language": per_language,
        "items": {lang: correct[y_test == k].astype(np.float64) for k, lang in enumerate(languages)},
        "accuracy": float(correct.mean()),
        "macro": float(np.mean([r["accuracy"] for r in per_language.values()])),
        "n_train": len(y_train),
        "n_test": len(y_test),
        "chance": 1.0 / len(languages),
    }


def _stack(
    texts: Mapping[str, list[str]], languages: Sequence[str], embedding: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    rows = [embedding[t] for lang in languages for t in texts[lang]]
    labels = [k for k, lang in enumerate(languages) for _ in texts[lang]]
    return np.stack(rows), np.asarray(labels, dtype=np.int64)
