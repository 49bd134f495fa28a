"""The sentence-transformers files: ``SentenceTransformer(dir)`` embeds exactly as kdnas does, offline, for the
converted multilingual-e5-small teacher and for a student written by ``train.py experiment=tiny``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kdnas.errors import ConfigError
from kdnas.evaluate.embed import embed_texts
from kdnas.models import sentence_transformers as kst
from kdnas.models.teacher import Teacher
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]

# real multilingual texts: 20 languages, 12 scripts, short and long
TEXTS = [
    "How much protein should a female eat per day?",
    "Could not open file: permission denied.",
    "Le renard brun saute par-dessus le chien paresseux.",
    "Größe, Straße, übermäßig: das Öl ist teuer geworden.",
    "El niño comió paella en la montaña; ¡qué rico!",
    "Não há coração que aguente tanta emoção.",
    "Zażółć gęślą jaźń. Łódź, Kraków, Gdańsk.",
    "Türkçe: ılık, İstanbul, şeker, çiçek.",
    "Tiếng Việt có nhiều dấu: Nguyễn, Trần, Hồ Chí Minh.",
    "Москва является столицей Российской Федерации.",
    "Українська мова: ґ, є, і, ї. Київ, Львів.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "北京是中华人民共和国的首都。",
    "東京は日本の首都です。",
    "서울은 대한민국의 수도입니다.",
    "القاهرة هي عاصمة جمهورية مصر العربية.",
    "ירושלים היא עיר עתיקה.",
    "नई दिल्ली भारत की राजधानी है।",
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "თბილისი საქართველოს დედაქალაქია.",
    "The file could not be saved because the disk is full; free some space and try again, "
    "or choose another folder on a different drive.",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.asarray((a * b).sum(axis=1))


def st_embed(directory: Path, texts: list[str], **kwargs: object) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(directory), device="cpu")
    return np.asarray(model.encode(texts, convert_to_numpy=True, batch_size=8, **kwargs), dtype=np.float32)


def hf_model(directory: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModel

    return AutoModel.from_pretrained(directory).eval()


def hf_tokenizer(directory: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory)


def read(directory: Path, name: str) -> object:
    return json.loads((directory / name).read_text())


def check_files(directory: Path, prompts: dict[str, str], normalize: bool, max_seq_length: int = 512) -> None:
    """The files exist, the pooling is the mean over the mask, the prompts are named."""
    modules = read(directory, kst.MODULES_FILE)
    assert isinstance(modules, list)
    assert [m["path"] for m in modules] == ["", kst.POOLING_DIR] + ([kst.NORMALIZE_DIR] if normalize else [])
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling"] + (["Normalize"] if normalize else [])
    assert read(directory, f"{kst.POOLING_DIR}/config.json") == {
        "embedding_dimension": read(directory, "config.json")["hidden_size"],  # type: ignore[index]
        "pooling_mode": "mean",
        "include_prompt": True,
    }
    assert (directory / kst.NORMALIZE_DIR / "config.json").is_file() == normalize
    config = read(directory, kst.MODEL_CONFIG)
    assert isinstance(config, dict)
    assert config["prompts"] == kst.st_prompts(prompts) and config["similarity_fn_name"] == "cosine"
    assert set(config["__version__"]) == {"sentence_transformers", "transformers", "pytorch"}
    assert read(directory, kst.TRANSFORMER_CONFIG)["max_seq_length"] == max_seq_length  # type: ignore[index]


# --- the writer, on a tiny saved model (fast) -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tiny_teacher, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("tiny_model")
    tiny_teacher.model.save_pretrained(out)
    tiny_teacher.tokenizer.save_pretrained(out)
    return out


def test_files_mirror_what_sentence_transformers_saves(tiny_dir: Path, tmp_path: Path) -> None:
    """Loading our files and saving them again with sentence-transformers gives the same files."""
    from sentence_transformers import SentenceTransformer

    kst.write_sentence_transformers_files(tiny_dir, prompts=kst.E5_PROMPTS, normalize=True, max_seq_length=100)
    check_files(tiny_dir, kst.E5_PROMPTS, normalize=True, max_seq_length=100)
    model = SentenceTransformer(str(tiny_dir), device="cpu")
    assert model.max_seq_length == 100 and model.similarity_fn_name == "cosine"
    assert model.prompts == {"query": "query: ", "passage": "passage: ", "document": "passage: "}
    model.save(str(tmp_path), create_model_card=False)
    for name in (kst.MODULES_FILE, kst.MODEL_CONFIG, f"{kst.POOLING_DIR}/config.json", f"{kst.NORMALIZE_DIR}/config.json"):
        assert read(tiny_dir, name) == read(tmp_path, name), name
    theirs = read(tmp_path, kst.TRANSFORMER_CONFIG)
    assert read(tiny_dir, kst.TRANSFORMER_CONFIG) == {**theirs, "max_seq_length": 100}  # type: ignore[dict-item]


def test_without_normalize_or_prompts(tiny_dir: Path, tmp_path: Path) -> None:
    kst.write_sentence_transformers_files(tiny_dir, prompts=kst.E5_PROMPTS, normalize=True)
    kst.write_sentence_transformers_files(tiny_dir, prompts={}, normalize=False)  # a rewrite removes 2_Normalize
    check_files(tiny_dir, {}, normalize=False)  # max_seq_length: 512, the tokenizer's
    raw = st_embed(tiny_dir, TEXTS[:4])
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)  # not normalised ...
    expected = embed_texts(hf_model(tiny_dir), hf_tokenizer(tiny_dir), TEXTS[:4])
    assert cosines(raw, expected).min() >= 0.9999  # ... but the same direction: the mean pooling


def test_missing_config_json_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        kst.write_sentence_transformers_files(tmp_path)
    assert not (tmp_path / kst.MODULES_FILE).exists()


# --- the teacher's prompts and normalisation ----------------------------------------------------------------


def test_teacher_prompts_derive_from_the_text_prefix(tiny_teacher) -> None:  # type: ignore[no-untyped-def]
    args = (tiny_teacher.name, tiny_teacher.model, tiny_teacher.tokenizer, "memory")
    assert Teacher(*args).prompts == {} and Teacher(*args).normalize is True
    assert Teacher(*args, text_prefix="query: ").prompts == {"query": "query: "}
    assert Teacher(*args, "query: ", {"passage": "passage: "}).prompts == kst.E5_PROMPTS
    with pytest.raises(ConfigError, match=r"teacher\.prompts\.query"):
        Teacher(*args, text_prefix="", prompts={"query": "query: "})


def test_me5_config_prompts_follow_the_text_prefix(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    cfg = compose_config("train", ["teacher=me5_small"], tmp_path)
    teacher_cfg = OmegaConf.to_container(cfg.teacher, resolve=True)  # type: ignore[attr-defined]
    assert teacher_cfg["prompts"] == kst.E5_PROMPTS and teacher_cfg["normalize"] is True  # type: ignore[index]
    cfg = compose_config("train", ["teacher=me5_small", "teacher.text_prefix=''"], tmp_path)
    assert OmegaConf.to_container(cfg.teacher, resolve=True)["prompts"]["query"] == ""  # type: ignore[attr-defined,index]


# --- the converted teacher and a trained student: SentenceTransformer == kdnas ---------------------------


@pytest.mark.slow
def test_converted_teacher_embeds_as_kdnas() -> None:
    from kdnas.models.teacher import load_me5_small_teacher

    teacher = load_me5_small_teacher()
    directory = Path(teacher.source)
    assert teacher.prompts == kst.E5_PROMPTS and teacher.normalize
    check_files(directory, kst.E5_PROMPTS, normalize=True)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(directory), device="cpu")
    ours = embed_texts(teacher.model, teacher.tokenizer, TEXTS, prefix=teacher.text_prefix)
    theirs = model.encode(TEXTS, prompt_name="query", batch_size=8)
    assert ours.dtype == np.float32 and theirs.shape == ours.shape
    assert cosines(theirs, ours).min() >= 0.9999, cosines(theirs, ours).round(6).tolist()
    assert np.allclose(np.linalg.norm(theirs, axis=1), 1.0, atol=1e-5)
    passages = embed_texts(teacher.model, teacher.tokenizer, TEXTS[:6], prefix="passage: ")
    assert cosines(model.encode(TEXTS[:6], prompt_name="passage"), passages).min() >= 0.9999
    assert cosines(model.encode_document(TEXTS[:6]), passages).min() >= 0.9999  # "document" = "passage: "


def run_train(*args: str) -> None:
    proc = subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"train.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train_tiny_st")
    run_train("experiment=tiny", f"hydra.run.dir={out}")  # logger=none: LearningRateMonitor refuses a Trainer without one
    return out / "student"


@pytest.mark.slow
def test_tiny_student_embeds_as_kdnas(tiny_student: Path) -> None:
    check_files(tiny_student, {}, normalize=True)  # the tiny teacher: MiniLM's tokenizer, no prefix
    ours = embed_texts(hf_model(tiny_student), hf_tokenizer(tiny_student), TEXTS, prefix="")
    theirs = st_embed(tiny_student, TEXTS, prompt_name="query")
    assert cosines(theirs, ours).min() >= 0.9999, cosines(theirs, ours).round(6).tolist()
    assert np.allclose(np.linalg.norm(theirs, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_tiny_student_loads_without_kdnas(tiny_student: Path) -> None:
    code = (
        "import sys; from sentence_transformers import SentenceTransformer;"
        f"m = SentenceTransformer({str(tiny_student)!r}, device='cpu');"
        "e = m.encode(['hello world', 'bonjour'], prompt_name='query'); print(e.shape);"
        "assert 'kdnas' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("(2, 32)")
