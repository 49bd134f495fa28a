"""The out-of-domain translation set: the real installed catalogs, and a crafted distribution."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from kdnas.data.gettext import load_gettext_corpus
from kdnas.data.normalize import normalize_source
from kdnas.data.out_of_domain import (
    DEFAULT_DISTRIBUTIONS,
    OutOfDomainSet,
    corpus_language,
    load_out_of_domain,
)
from kdnas.errors import ConfigError
from tests.conftest import ROOT
from tests.test_corpus import write_mo


@pytest.fixture(scope="module")
def corpus_sources() -> list[str]:
    corpus = load_gettext_corpus()
    return [pair.source for split in corpus.splits.values() for pair in split.pairs]


@pytest.fixture(scope="module")
def real_set(corpus_sources: list[str]) -> OutOfDomainSet:
    return load_out_of_domain(corpus_sources)


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def script(text: str) -> str:
    """The script most letters of ``text`` are in (first word of the Unicode name: LATIN, CJK, HANGUL...)."""
    names = Counter(unicodedata.name(ch, "?").split()[0] for ch in text if ch.isalpha())
    return names.most_common(1)[0][0]


# --- the real set ----------------------------------------------------------------------------------------------


def test_real_set_is_large_and_multi_script(real_set: OutOfDomainSet) -> None:
    large = [lang for lang, n in real_set.languages().items() if n >= 150]
    assert len(large) >= 15, real_set.languages()
    by_language: dict[str, Counter[str]] = {lang: Counter() for lang in large}
    for pair in real_set.pairs:
        counts = by_language.get(pair.language)
        if counts is not None and counts.total() < 100:  # a sample per language is enough
            counts[script(pair.translation)] += 1
    scripts = {counts.most_common(1)[0][0] for counts in by_language.values()}
    assert len(scripts) >= 4, scripts
    assert {"LATIN", "CYRILLIC", "CJK", "HANGUL"} <= scripts, scripts


def test_real_set_shares_no_source_with_the_corpus(
    real_set: OutOfDomainSet, corpus_sources: list[str]
) -> None:
    corpus = {normalize_source(s) for s in set(corpus_sources)}
    assert not {normalize_source(p.source) for p in real_set.pairs} & corpus
    assert not {normalize_source(p.translation) for p in real_set.pairs} & corpus
    # one pair per (normalised source, language), in a stable order
    keys = [(p.language, normalize_source(p.source)) for p in real_set.pairs]
    assert len(keys) == len(set(keys))
    assert real_set.pairs == sorted(real_set.pairs, key=lambda p: (p.language, p.source))


def test_real_set_reads_the_pinned_versions(real_set: OutOfDomainSet) -> None:
    pins = dict(
        line.split("==")
        for line in (ROOT / "requirements-ood.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    pinned = {canonical(name): version.strip() for name, version in pins.items()}
    read = {canonical(name): version for name, version in real_set.distributions.items()}
    assert read == pinned
    assert len(DEFAULT_DISTRIBUTIONS) == len(pinned)


# --- a crafted distribution ------------------------------------------------------------------------------------


@pytest.fixture()
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``fake-ood`` 1.0 on sys.path, with catalogs in de, de_DE, zh_Hans and en_GB."""
    root = tmp_path / "site"
    locale = root / "fake_ood" / "locale"
    write_mo(
        locale / "de" / "LC_MESSAGES" / "app.mo",
        {
            "_Save the %s file now": "Die Datei jetzt _speichern",  # cleaned
            "Delete the selected page!": "Die gewählte Seite löschen",  # excluded (normalised)
            "Delete this page right now?": "Diese Seite sofort löschen?",
            "Delete this page right now.": "Diese Seite sofort löschen.",  # same normalised source
            "Close all of the windows": "Show the whole project now",  # translation is an excluded source
            "Too short": "Zu kurz",  # fewer than 4 words
        },
    )
    write_mo(
        locale / "de_DE" / "LC_MESSAGES" / "app.mo",
        {
            "_Save the %s file now": "ANDERE Übersetzung",  # ranks after de
            "Only the regional catalog has this": "Nur der regionale Katalog hat das",
            "DELETE this page right now": "DIESE Seite sofort löschen",  # first in code-point order
        },
    )
    write_mo(
        locale / "zh_Hans" / "LC_MESSAGES" / "app.mo", {"Delete this page right now?": "立即删除此页面？"}
    )
    write_mo(locale / "en_GB" / "LC_MESSAGES" / "app.mo", {"Delete this page right now?": "Delete it (GB)"})
    info = root / "fake_ood-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-ood\nVersion: 1.0\n")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in [*files, "fake_ood-1.0.dist-info/RECORD"]))
    monkeypatch.syspath_prepend(str(root))
    return "fake-ood"


def test_crafted_distribution(fake_distribution: str, tmp_path: Path) -> None:
    excluded = ["delete the selected page", "Show the whole project, now!", "Nothing of the fake catalogs"]
    kwargs = {"distributions": [fake_distribution], "cache_dir": str(tmp_path / "cache")}
    result = load_out_of_domain(excluded, **kwargs)  # type: ignore[arg-type]
    got = {(p.language, p.source): p.translation for p in result.pairs}
    assert got == {
        ("de", "DELETE this page right now"): "DIESE Seite sofort löschen",  # of the three with one form
        ("de", "Only the regional catalog has this"): "Nur der regionale Katalog hat das",
        ("de", "Save the file now"): "Die Datei jetzt speichern",
        ("zh_CN", "Delete this page right now?"): "立即删除此页面？",
    }
    assert result.removed_sources == 1  # "Delete the selected page!"; a dropped translation removes no source
    assert result.distributions == {fake_distribution: "1.0"}
    assert result.languages() == {"de": 3, "zh_CN": 1}
    assert [(p.language, p.source) for p in result.pairs] == sorted(got)
    # from the cache: the same set; without exclusion the two excluded pairs come back
    assert load_out_of_domain(excluded, **kwargs) == result  # type: ignore[arg-type]
    assert list((tmp_path / "cache").glob("out-of-domain-*.jsonl.gz"))
    unexcluded = load_out_of_domain(**kwargs)  # type: ignore[arg-type]
    assert unexcluded.removed_sources == 0
    assert len(unexcluded.pairs) == len(result.pairs) + 2


def test_missing_distribution_is_a_one_line_config_error(fake_distribution: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_out_of_domain(distributions=[fake_distribution, "kdnas-no-such-distribution"])
    message = str(err.value)
    assert "\n" not in message
    assert "kdnas-no-such-distribution" in message and fake_distribution not in message
    assert "make setup" in message and "requirements-ood.txt" in message
    with pytest.raises(ConfigError, match=re.escape("ship no installed gettext catalogs (.mo): pytest")):
        load_out_of_domain(distributions=["pytest"])


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("de", ("de", 0)),
        ("de_DE", ("de", 2)),
        ("ja-JP", ("ja", 2)),
        ("pt_BR", ("pt_BR", 0)),
        ("pt_PT", ("pt", 2)),
        ("zh_Hans", ("zh_CN", 1)),
        ("zh-TW", ("zh_TW", 0)),
        ("zh_TW.Big5", ("zh_TW", 1)),
        ("zh", ("zh_CN", 2)),
        ("sr_Latn", ("sr@latin", 1)),
        ("ca@valencia", ("ca@valencia", 0)),
        ("no_NO", ("nb", 2)),
        ("es_419", ("es", 2)),
        ("en_GB", None),
        ("en", None),
    ],
)
def test_corpus_language(code: str, expected: tuple[str, int] | None) -> None:
    assert corpus_language(code) == expected
