"""The texts an evaluation scores: every task's sample, chosen from the corpus before any model runs.

:meth:`kdnas.evaluate.suite.EvalSuite.plan` builds an :class:`EvalPlan`; every model evaluated with it
embeds exactly :meth:`EvalPlan.texts`, so a teacher and its students are scored on the same texts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kdnas.evaluate.hf_tasks import HubTaskPlan
from kdnas.evaluate.langid import LangIdPlan
from kdnas.evaluate.retrieval import RetrievalPlan


@dataclass
class EvalPlan:
    """Every text each task scores, chosen from the corpus before any model runs."""

    retrieval: RetrievalPlan | None = None
    langid: LangIdPlan | None = None
    hub: dict[str, HubTaskPlan] = field(default_factory=dict)
    ood_retrieval: RetrievalPlan | None = None  # the out-of-domain set's pairs
    #: domain (``in_domain``, ``out_of_domain``) -> the texts the task-agnostic agreement scores are computed on
    agreement: dict[str, list[str]] = field(default_factory=dict)
    split: str = "test"  # the corpus split the corpus tasks are scored on
    ood_info: dict[str, Any] = field(default_factory=dict)  # where the out-of-domain set came from

    def texts(self) -> list[str]:
        """The union of every task's texts, each once, in a stable order."""
        out: dict[str, None] = {}
        for part in (self.retrieval, self.langid, self.ood_retrieval, *self.hub.values()):
            if part is not None:
                out.update(dict.fromkeys(part.texts()))
        for texts in self.agreement.values():
            out.update(dict.fromkeys(texts))
        return list(out)

    def describe(self) -> dict[str, Any]:
        """Sizes and the chosen languages, for reports."""
        info: dict[str, Any] = {"texts": len(self.texts()), "split": self.split}
        if self.retrieval is not None:
            info["retrieval"] = {
                "languages": {lang: len(p) for lang, p in self.retrieval.samples.items()},
                "skipped": dict(self.retrieval.skipped),
            }
        if self.langid is not None:
            info["langid"] = {
                "languages": self.langid.languages,
                "train": sum(len(t) for t in self.langid.train.values()),
                "test": sum(len(t) for t in self.langid.test.values()),
                "skipped": dict(self.langid.skipped),
            }
        if self.ood_retrieval is not None:
            info["ood_retrieval"] = {
                "languages": {lang: len(p) for lang, p in self.ood_retrieval.samples.items()},
                "skipped": dict(self.ood_retrieval.skipped),
                **self.ood_info,
            }
        if self.agreement:
            info["agreement"] = {domain: len(texts) for domain, texts in self.agreement.items()}
        for name, hub in self.hub.items():
            info[name] = {"train": len(hub.train.labels), "test": {k: len(v.labels) for k, v in hub.test.items()}}
        return info
