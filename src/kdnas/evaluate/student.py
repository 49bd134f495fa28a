"""The student under evaluation: find its directory, load it frozen, check it reads the teacher's token ids.

``student=teacher`` (:data:`TEACHER_KEYWORD`) evaluates the teacher as its own student: a sanity check
(retention 1.0, speed-up ~1.0); :func:`teacher_as_student_dir` gives the directory to load it from.
"""

from __future__ import annotations

from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from kdnas.compress.prune_vocab import PRUNING_FILE
from kdnas.errors import ConfigError
from kdnas.models.encoder import load_frozen_encoder
from kdnas.models.teacher import Teacher

#: ``student=teacher`` evaluates the configured teacher itself
TEACHER_KEYWORD = "teacher"
#: tokenized by both tokenizers: equal ids (and vocabulary sizes) mean the student reads the teacher's ids
PROBE_TEXT = "query: The file could not be opened. Le fichier n'a pas pu être ouvert. ファイルを開けません。 Файл не найден."


def find_student_dir(student: str | Path) -> Path:
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
    """The teacher's own directory, or (for a teacher built in memory) a ``save_pretrained`` copy in ``out_dir``."""
    source = Path(teacher.source)
    if (source / "config.json").is_file():
        return source
    directory = out_dir / "teacher_as_student"
    teacher.model.save_pretrained(directory)
    teacher.tokenizer.save_pretrained(directory)
    return directory


def load_student(student_dir: Path, teacher: Teacher) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The frozen encoder and tokenizer in ``student_dir``, checked against ``teacher`` (:func:`check_tokenizer`).

    Raises:
        ConfigError: it cannot be loaded, or it does not read the teacher's token ids.
    """
    model, tokenizer = load_frozen_encoder(student_dir, key="student")
    check_tokenizer(student_dir, model, tokenizer, teacher)
    return model, tokenizer


def check_tokenizer(
    student_dir: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, teacher: Teacher
) -> None:
    """The student must read the teacher's token ids: same vocabulary size, same ids for a probe text (for a
    vocabulary-pruned student, which renumbers the pieces it keeps: the same pieces).

    Raises:
        ConfigError: they differ, or the student's embedding matrix is smaller than its tokenizer.
    """
    s_ids = tokenizer(PROBE_TEXT)["input_ids"]
    t_ids = teacher.tokenizer(PROBE_TEXT)["input_ids"]
    if (student_dir / PRUNING_FILE).is_file():  # a vocabulary-pruned copy: other ids, the teacher's pieces
        same = tokenizer.convert_ids_to_tokens(s_ids) == teacher.tokenizer.convert_ids_to_tokens(t_ids)
    else:
        same = len(tokenizer) == len(teacher.tokenizer) and s_ids == t_ids
    if not same:
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
