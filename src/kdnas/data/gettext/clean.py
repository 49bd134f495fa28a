"""Cleaning catalog strings into natural language, and the rules for which cleaned strings are kept.

Removes accelerator marks, format placeholders, markup, escape and control sequences; a
:class:`MessageFilter` then drops sources too short or too long and translations that are empty, letterless
or untranslated copies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Characters that start something to remove; most strings contain none and only get whitespace collapsed.
_SPECIAL = re.compile(r"[%{}$@<>&_~\\\x00-\x1f\x7f]")
# Escape and control sequences (ANSI colours, a literal "\n" left in the text, raw control characters),
# markup (<b>, </span>, <a href="...">, <br/>) and usage metavariables (<file>, <commit-ish>, <커밋>).
_NOISE = re.compile(
    r"\x1b\[[0-9;?]*[A-Za-z]"
    r"|\\(?:[nrtvfab]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[0-7]{1,3})"
    r"|[\x00-\x1f\x7f]"
    r"|</?[^\W\d_][\w:.-]*(?:\s[^<>]*)?/?>"
)
# Mnemonics: "Ouvrir (_O)", "ファイル(&F)" (CJK appends the key), then "_Open", "&Open", "E&xit", "~Open".
_ACCEL_GROUP = re.compile(r"\s?[(（][_&~][^\W_][)）]")
_ACCEL = re.compile(r"(?<!\w)_(?=[^\W\d_])|&(?!#?\w+;)(?=\w)|~(?=[^\W\d_])")
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&nbsp;": " "}
_ENTITY = re.compile("|".join(map(re.escape, _ENTITIES)))
# printf (%s, %-10.3lu, %1$s, %'d, %*.s, %Y) with "%%" kept as a literal percent, except before a
# conversion ("%%s": a placeholder escaped for a second formatting pass, as in git); Python %(name)s;
# Qt %1. No space flag: "100% of" is text, not "% o".
_PRINTF = re.compile(
    r"%%(?:\d+\$)?[-+#0']*(?:\d+|\*)?(?:\.(?:\d+|\*)?)?(?:hh|ll|[hlLqjzZt])?[diouxXeEfFgGaAcsp]"
    r"|%%|%\(\w+\)[-+#0]*\d*(?:\.\d+)?[A-Za-z]"
    r"|%(?:\d+\$)?[-+#0']*(?:\d+|\*)?(?:\.(?:\d+|\*)?)?(?:hh|ll|I64|I32|[hlLqjzZtI])?[A-Za-z]"
    r"|%L?\d+"
)
# str.format {0} {name!r} {0:.2f}; shell/perl $VAR ${VAR} $(VAR); autoconf @VAR@.
_OTHER_PLACEHOLDER = re.compile(
    r"\{[\w.\[\]-]*(?:![rsa])?(?::[^{}]*)?\}|\$\{\w+\}|\$\(\w+\)|\$\w+|@[A-Z][A-Z0-9_]*@"
)
# Quotes and brackets left empty by a removed placeholder: `%s' -> `' ; « %s » -> « » ; (%d) -> ().
_EMPTY_PAIR = re.compile(r"""`'|''|""|[‘“«„「『(\[‹<]\s*[’”»“」』)\]›>]|»\s*«""")
_LEADING_PUNCT = re.compile(r"^[\s:;,|]+")  # left by a removed leading placeholder ("%s: cannot ...")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,])(?=\s|$)")  # "cannot open %s." -> "cannot open ."
_LETTER = re.compile(r"[^\W\d_]")
# English puts no space before these; other languages may (French "Fichier :"), so sources only.
_ENGLISH_SPACE_BEFORE_PUNCT = re.compile(r"\s+([:;!?])")


def _printf_sub(match: re.Match[str]) -> str:
    return "%" if match.group(0) == "%%" else ""


def clean_message(text: str) -> str:
    """Strip what is not natural language from a catalog string; ``""`` if nothing is left.

    Removes accelerator marks (``_File``, ``&Open``, ``~Open``, ``(_F)``), format placeholders (``%s``,
    ``%(name)s``, ``%1$s``, ``%1``, ``{0}``, ``{name}``, ``$VAR``, ``@VAR@``), markup tags, escape and
    control sequences, and quotes left empty by a removed placeholder; collapses whitespace.

    Example:
        >>> clean_message("%s: cannot open `%s'\\n")
        'cannot open'
        >>> clean_message("<b>_Save</b> the {count} files as…")
        'Save the files as…'
    """
    if _SPECIAL.search(text) is None:
        return " ".join(text.split())
    # Placeholders are removed without a space (they sit between spaces or inside quotes); tags and
    # escapes become a space (they can separate words).
    text = _NOISE.sub(" ", text)
    if "_" in text or "&" in text or "~" in text:
        text = _ACCEL.sub("", _ACCEL_GROUP.sub("", text))
        if "&" in text:
            text = _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], text)
    if "%" in text:
        text = _PRINTF.sub(_printf_sub, text)
    text = " ".join(_OTHER_PLACEHOLDER.sub("", text).split())
    text = _EMPTY_PAIR.sub("", text)
    text = _LEADING_PUNCT.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return " ".join(text.split())


def count_words(text: str) -> int:
    """Whitespace-separated tokens that contain a letter (so "--", "42" and "|" do not count)."""
    return sum(1 for token in text.split() if _LETTER.search(token))


def has_letter(text: str) -> bool:
    """Whether ``text`` has any letter (in any script): pure symbols and numbers are no sentence."""
    return _LETTER.search(text) is not None


@dataclass(frozen=True)
class MessageFilter:
    """Which cleaned strings are kept."""

    min_words: int  # of the English source
    max_chars: int  # of either side

    def source(self, raw: str) -> str | None:
        """The cleaned source, or ``None`` if it is too short or too long to keep."""
        source = _ENGLISH_SPACE_BEFORE_PUNCT.sub(r"\1", clean_message(raw))
        if len(source) > self.max_chars or count_words(source) < self.min_words:
            return None
        return source

    def keeps(self, source: str, translation: str) -> bool:
        return (
            0 < len(translation) <= self.max_chars
            and has_letter(translation)
            and translation.casefold() != source.casefold()  # an untranslated copy of the source
        )
