"""Tests of the corpus sources: gettext catalogs, text files, and ``datasets`` datasets."""

from __future__ import annotations

import json
import re
import struct
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import pytest

from kdnas.data.corpus import SPLITS, Corpus
from kdnas.data.gettext import (
    DEFAULT_LOCALE_DIR,
    clean_message,
    corpus_stats,
    count_words,
    extract_gettext,
    list_catalogs,
    load_gettext_corpus,
)
from kdnas.data.gettext import catalogs as gettext_catalogs
from kdnas.data.gettext.splits import drop_cross_split_texts
from kdnas.data.hf_dataset import load_hf_dataset_corpus
from kdnas.data.text_files import load_text_files_corpus
from kdnas.errors import ConfigError
from tests.conftest import distinct_words

# --- helpers -------------------------------------------------------------------------------------------


def write_mo(path: Path, entries: Mapping[str, str]) -> None:
    """Write a GNU ``.mo`` catalog (little-endian, no hash table) with a UTF-8 header."""
    header = "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n"
    items = sorted({"": header, **entries}.items())
    ids = [k.encode() for k, _ in items]
    strs = [v.encode() for _, v in items]
    n = len(items)
    ids_table, strs_table = 28, 28 + 8 * n
    offset = 28 + 16 * n
    blob, id_index, str_index = b"", [], []
    for table, index in ((ids, id_index), (strs, str_index)):
        for s in table:
            index.append((len(s), offset + len(blob)))
            blob += s + b"\0"
    out = struct.pack("<7I", 0x950412DE, 0, n, ids_table, strs_table, 0, 0)
    out += b"".join(struct.pack("<2I", length, off) for length, off in id_index + str_index)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out + blob)


def sentence(i: int) -> str:
    """English sources that are not near-duplicates of each other (so each one splits on its own)."""
    return f"Could not open the file {distinct_words(i)} in the archive"


def make_locale_dir(root: Path, n: int = 300) -> Path:
    """A small catalog tree: five languages (with a shared German translation), English, junk, odd entries."""
    fake = {
        "fr": lambda i: f"Impossible d'ouvrir le fichier numéro {i} de l'archive",
        "de": lambda i: (
            "Die Datei konnte nicht geöffnet werden" if i % 40 == 0 else f"Datei {i} nicht geöffnet"
        ),
        "ru": lambda i: f"Не удалось открыть файл номер {i} в архиве",
        "ja": lambda i: f"アーカイブ内のファイル {i} を開けませんでした",
        "zh_CN": lambda i: f"无法打开归档中的文件 {i}",
    }
    for lang, translate in fake.items():
        entries = {sentence(i): translate(i) for i in range(n)}
        entries["Too short"] = "Trop court"  # fewer than 4 words: dropped
        entries["Left untranslated in this catalog"] = "Left untranslated in this catalog"
        write_mo(root / lang / "LC_MESSAGES" / "demo.mo", entries)
    write_mo(
        root / "fr" / "LC_MESSAGES" / "odd.mo",
        {
            "_Open the selected file now": "_Ouvrir le fichier choisi maintenant",
            "Deleted %d file from the disk\0Deleted %d files from the disk": "%d fichier supprimé\0%d fichiers supprimés",
            "menu\x04Quit the whole application now": "Quitter toute l'application maintenant",
            "%s: %d": "%s : %d",  # pure placeholders: dropped
        },
    )
    write_mo(
        root / "en_GB" / "LC_MESSAGES" / "demo.mo", {sentence(i): sentence(i) + " (GB)" for i in range(n)}
    )
    (root / "de" / "LC_MESSAGES" / "broken.mo").write_bytes(b"not a catalog at all")
    return root


@pytest.fixture(scope="module")
def locale_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_locale_dir(tmp_path_factory.mktemp("locale"))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KDNAS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "corpora"


def all_texts(corpus: Corpus, split: str) -> set[str]:
    return {t for p in corpus.pairs(split) for t in (p.source, p.translation)}


def assert_disjoint(corpus: Corpus) -> None:
    """No English source, and no text of any pair or of ``texts``, in two splits."""
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not {p.source for p in corpus.pairs(a)} & {p.source for p in corpus.pairs(b)}, (a, b)
            assert not all_texts(corpus, a) & all_texts(corpus, b), (a, b)
            assert not set(corpus.texts(a)) & set(corpus.texts(b)), (a, b)


def script_of(text: str) -> str | None:
    """The Unicode script name of the first letter (LATIN, CYRILLIC, CJK, HANGUL, ...)."""
    letter = next((ch for ch in text if ch.isalpha()), None)
    return unicodedata.name(letter, "?").split()[0] if letter else None


# --- cleaning --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("_Open the file", "Open the file"),
        ("&Open the file", "Open the file"),
        ("E&xit the program", "Exit the program"),
        ("~Open a document", "Open a document"),
        ("ファイルを開く(_O)", "ファイルを開く"),
        ("Ouvrir le fichier (_O)", "Ouvrir le fichier"),
        ("Copy %s to %d places", "Copy to places"),
        ("%(name)s was found %1$s times", "was found times"),
        ("Copy {0} to {name} and {0:.2f}", "Copy to and"),
        ("Set $HOME and ${PATH} and @PACKAGE@ now", "Set and and now"),
        ("%-10.3lu bytes and %'d left", "bytes and left"),
        ("Qt style %1 and %2 args", "Qt style and args"),
        ("It is 100% of the files at 50%% speed", "It is 100% of the files at 50% speed"),
        ("Files removed by %s:\n%%sPlease move them", "Files removed by : Please move them"),
        ('<b>Bold</b> and <a href="x">link</a> text', "Bold and link text"),
        ("Use &amp; wisely", "Use & wisely"),
        ("git add <pathspec> now", "git add now"),
        ("Line one\nline two\ttabbed   end", "Line one line two tabbed end"),
        ("Literal\\nescape here", "Literal escape here"),
        ("\x1b[1mBold\x1b[0m text", "Bold text"),
        ("%s: cannot stat `%s'", "cannot stat"),
        ("« %s » est introuvable", "est introuvable"),
        ("Cannot open %s.", "Cannot open."),
        ("file_name and __init__ stay", "file_name and __init__ stay"),
        ("--no-verify, -n skip hooks", "--no-verify, -n skip hooks"),
        ("%s %d", ""),
    ],
)
def test_clean_message(raw: str, clean: str) -> None:
    assert clean_message(raw) == clean


def test_extraction_cleans_and_filters(locale_dir: Path, cache: Path) -> None:
    translations = extract_gettext(str(locale_dir)).translations
    fr = {s: t["fr"] for s, t in translations.items() if "fr" in t}
    assert fr["Open the selected file now"] == "Ouvrir le fichier choisi maintenant"  # accelerators
    assert fr["Deleted file from the disk"] == "fichier supprimé"  # plural: the singular forms
    assert fr["Quit the whole application now"] == "Quitter toute l'application maintenant"  # no context
    assert "Too short" not in translations  # fewer than 4 words
    assert "Left untranslated in this catalog" not in translations  # translation == source
    assert not any("(GB)" in t for tr in translations.values() for t in tr.values())  # en_* skipped
    assert {lang for t in translations.values() for lang in t} == {"fr", "de", "ru", "ja", "zh_CN"}


# --- the gettext corpus on crafted catalogs -------------------------------------------------------------------


def test_gettext_corpus_small(locale_dir: Path, cache: Path) -> None:
    corpus = load_gettext_corpus(str(locale_dir))
    assert_disjoint(corpus)  # the shared German translation too
    for split in SPLITS:
        pairs_texts = all_texts(corpus, split)
        assert set(corpus.texts(split)) == pairs_texts
        assert len(corpus.texts(split)) == len(pairs_texts)  # unique
    assert sum(len({p.source for p in corpus.pairs(s)}) for s in SPLITS) == 300 + 3
    shared = "Die Datei konnte nicht geöffnet werden"  # translates sources of several splits
    assert sum(shared in all_texts(corpus, s) for s in SPLITS) == 1
    stats = corpus_stats(corpus)
    assert stats["languages"] == 5
    assert stats["texts"] == corpus.sizes()


def test_shared_texts_stay_in_one_split() -> None:
    groups = {
        "train": {
            "Open the file now please": {"fr": "Ouvrir", "de": "Öffnen"},
            "Only one here ok": {"fr": "Seul"},
        },
        "proxy": {"Please open the file now": {"fr": "Ouvrir", "de": "Öffne"}},
        "validation": {"Another sentence of four": {"xx": "Open the file now please"}},  # = a train source
        "test": {"Yet another sentence here": {"fr": "Ouvrir", "de": "Öffne"}},
    }
    assert drop_cross_split_texts(groups) == 4
    # "Ouvrir" translates one source in train, proxy and test: the tie goes to the earliest split.
    assert groups["train"] == {
        "Open the file now please": {"fr": "Ouvrir", "de": "Öffnen"},
        "Only one here ok": {"fr": "Seul"},
    }
    assert groups["proxy"] == {"Please open the file now": {"de": "Öffne"}}
    assert groups["validation"] == {}  # its only translation is a train source
    assert groups["test"] == {}


def test_gettext_corpus_is_deterministic(locale_dir: Path, cache: Path) -> None:
    a = load_gettext_corpus(str(locale_dir), seed=1)
    b = load_gettext_corpus(str(locale_dir), seed=1)
    c = load_gettext_corpus(str(locale_dir), seed=2)
    assert a.splits == b.splits
    assert a.texts("train") != c.texts("train")
    assert set(a.texts("train")) == set(c.texts("train"))  # the seed orders, the hash splits


def test_gettext_max_texts_keeps_whole_groups(locale_dir: Path, cache: Path) -> None:
    full = load_gettext_corpus(str(locale_dir))
    capped = load_gettext_corpus(str(locale_dir), max_texts={"train": 100, "test": 7})
    assert 100 - 6 <= len(capped.texts("train")) <= 100  # groups hold 6 texts at most
    assert len(capped.texts("test")) <= 7
    assert capped.texts("proxy") == full.texts("proxy")
    full_groups: dict[str, set[tuple[str, str]]] = {}
    for p in full.pairs("train"):
        full_groups.setdefault(p.source, set()).add((p.language, p.translation))
    kept: dict[str, set[tuple[str, str]]] = {}
    for p in capped.pairs("train"):
        kept.setdefault(p.source, set()).add((p.language, p.translation))
    assert all(kept[s] == full_groups[s] for s in kept)  # every kept source keeps all its translations
    assert set(capped.texts("train")) == all_texts(capped, "train")


def test_gettext_languages(locale_dir: Path, cache: Path) -> None:
    corpus = load_gettext_corpus(str(locale_dir), languages=["ru", "ja"], min_pairs=100)
    assert {p.language for s in SPLITS for p in corpus.pairs(s)} == {"ru", "ja"}
    with pytest.raises(ConfigError, match=r"data\.languages.*\['xx'\]"):
        load_gettext_corpus(str(locale_dir), languages=["xx"])


def test_gettext_bad_settings(locale_dir: Path, cache: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.fractions"):
        load_gettext_corpus(str(locale_dir), fractions={"train": 0.9, "test": 0.1})
    with pytest.raises(ConfigError, match=r"data\.fractions.*sum to 1"):
        load_gettext_corpus(
            str(locale_dir), fractions={"train": 0.9, "proxy": 0.1, "validation": 0.1, "dev": 0.1, "test": 0.1}
        )
    with pytest.raises(ConfigError, match=r"data\.max_texts"):
        load_gettext_corpus(str(locale_dir), max_texts={"devel": 10})


def test_gettext_cache_is_reused(locale_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_gettext_corpus(str(locale_dir))
    files = list(cache.glob("gettext-*.jsonl.gz"))
    assert len(files) == 1

    def boom(path: str) -> dict[str, str]:
        raise AssertionError(f"re-read {path}")

    monkeypatch.setattr(gettext_catalogs, "read_catalog", boom)
    second = load_gettext_corpus(str(locale_dir))
    assert second.splits == first.splits
    assert extract_gettext(str(locale_dir)).from_cache


def test_gettext_cache_follows_the_catalogs(tmp_path: Path, cache: Path) -> None:
    root = make_locale_dir(tmp_path / "locale", n=250)
    before = load_gettext_corpus(str(root))
    write_mo(
        root / "uk" / "LC_MESSAGES" / "demo.mo", {sentence(i): f"Не вдалося відкрити {i}" for i in range(250)}
    )
    after = load_gettext_corpus(str(root))
    assert "uk" in corpus_stats(after)["pairs_per_language"]
    assert len(after.pairs("train")) > len(before.pairs("train"))
    assert len(list(cache.glob("gettext-*.jsonl.gz"))) == 1  # the stale version was removed


def test_gettext_too_little_text(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"data\.locale_dir.*apt-get install.*data=text_files"):
        load_gettext_corpus(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_gettext_corpus(str(tmp_path / "missing"))
    write_mo(
        tmp_path / "few" / "fr" / "LC_MESSAGES" / "a.mo",
        {sentence(i): f"Fichier {i} introuvable" for i in range(5)},
    )
    with pytest.raises(ConfigError, match="5 pairs kept, need 200"):
        load_gettext_corpus(str(tmp_path / "few"))


# --- the gettext corpus on this machine's catalogs ----------------------------------------------------------


@pytest.fixture(scope="module")
def real_corpus() -> Corpus:
    if len(list_catalogs(DEFAULT_LOCALE_DIR)) < 100:
        pytest.skip("this machine has few gettext catalogs under /usr/share/locale")
    return load_gettext_corpus()  # the default cache: cold once (~15 s), then ~5 s


def test_real_corpus_splits_are_disjoint(real_corpus: Corpus) -> None:
    assert_disjoint(real_corpus)
    sizes = real_corpus.sizes()
    assert sizes["train"] > 5 * sizes["test"]
    assert all(sizes[s] > 1000 for s in SPLITS)


def test_real_corpus_is_multilingual(real_corpus: Corpus) -> None:
    test_pairs = real_corpus.pairs("test")
    languages = {p.language for p in test_pairs}
    assert len(languages) >= 15
    assert {"fr", "de", "ru", "ja", "zh_CN"} <= languages
    scripts = {script_of(p.translation) for p in test_pairs}
    assert {"LATIN", "CYRILLIC", "CJK", "GREEK"} <= scripts
    assert len(scripts) >= 6


def test_real_corpus_is_clean(real_corpus: Corpus) -> None:
    # "(%sp)" is a register, not a placeholder (a Spanish binutils catalog drops its ")")
    placeholder = re.compile(r"%[sdu](?!p\)|p$)|%\d\$|\{\d\}|<b>|\x1b|\n")
    texts = [t for p in real_corpus.pairs("test") for t in (p.source, p.translation)]
    assert not [t for t in texts if placeholder.search(t)][:5]
    assert all(count_words(p.source) >= 4 for p in real_corpus.pairs("test"))
    assert all(p.source != p.translation for p in real_corpus.pairs("test"))


# --- text files --------------------------------------------------------------------------------------------


def test_text_files_corpus(tmp_path: Path) -> None:
    lines = [f"Sentence {distinct_words(i)} of the corpus." for i in range(400)]
    (tmp_path / "a.txt").write_text("\n".join(lines[:200]) + "\n\n   \n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("\n".join(lines[150:]) + "\nhi\n", encoding="utf-8")  # overlaps a.txt
    corpus = load_text_files_corpus(str(tmp_path / "*.txt"), min_chars=3)
    assert sorted(t for s in SPLITS for t in corpus.texts(s)) == sorted(lines)
    assert_disjoint(corpus)
    assert corpus.sizes()["train"] > corpus.sizes()["test"] > 0
    again = load_text_files_corpus([str(tmp_path / "b.txt"), str(tmp_path / "a.txt")], min_chars=3)
    assert again.splits == corpus.splits  # the split is a hash of the family: file order does not matter
    capped = load_text_files_corpus(str(tmp_path / "*.txt"), max_texts={"train": 10})
    assert len(capped.texts("train")) == 10
    assert set(capped.texts("train")) <= set(load_text_files_corpus(str(tmp_path / "*.txt")).texts("train"))


def test_text_files_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"data\.paths"):
        load_text_files_corpus(str(tmp_path / "empty.txt"))
    with pytest.raises(ConfigError, match=r"data\.paths.*no file matches"):
        load_text_files_corpus(str(tmp_path / "nothing*.txt"))
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(ConfigError, match=r"data\.paths.*cannot read"):
        load_text_files_corpus(str(tmp_path / "binary.txt"))
    with pytest.raises(ConfigError, match=r"data\.paths"):
        load_text_files_corpus([])


# --- datasets ---------------------------------------------------------------------------------------------


def test_hf_dataset_local_json(tmp_path: Path) -> None:
    rows = [{"text": f"Une phrase {distinct_words(i)}.", "id": i} for i in range(300)] + [{"text": "  ", "id": -1}]
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    corpus = load_hf_dataset_corpus("json", data_files=str(data), max_texts_total=250, max_texts={"test": 5})
    texts = [t for s in SPLITS for t in corpus.texts(s)]
    assert len(texts) <= 250 and len(set(texts)) == len(texts)
    assert set(texts) <= {r["text"] for r in rows}
    assert len(corpus.texts("test")) == 5
    assert_disjoint(corpus)


def test_hf_dataset_errors(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"body": "a text in another column"}) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"data\.text_field.*'body'"):
        load_hf_dataset_corpus("json", data_files=str(data))
    with pytest.raises(ConfigError, match=r"data\.path: cannot load dataset 'json'.*HF_DATASETS_OFFLINE"):
        load_hf_dataset_corpus("json", data_files=str(tmp_path / "missing.jsonl"))
