"""Text normalisation that undoes common filter-evasion spellings, applied by both models in
training and at inference (the choice is stored with the model).

What evaders do, and what is undone here:

- leetspeak: digits and symbols standing for letters inside a word (``1d10t``, ``sh!t``,
  ``@ss``, ``k1ll``) → letters, only in tokens that also hold letters (``2019``, ``$100`` and
  ordinals like ``21st`` stay as they are);
- stretched letters: runs of three or more of the same letter (``stuuuupid``) → two, the most
  any English word has (``cool``, ``fuuuck`` → ``fuuck``);
- spelled-out words: three or more single letters (or leetspeak characters, at least two
  letters) separated by one space or one of ``.-_*`` (``i d i o t``, ``f.u.c.k``) → one word;
- invisible and look-alike characters: zero-width characters are dropped, compatibility forms
  (fullwidth letters, ligatures) are folded by NFKC, and Cyrillic/Greek letters that look like
  Latin ones are mapped to them inside words that also hold Latin letters.

Swapped neighbours (``stpuid``), a doubled letter (``sttupid``) and words split by a space
(``stu pid``) need a dictionary to undo: :class:`TextNormalizer` adds spelling repair against
the model's own lexicon (``vigil.toxicity.lexicon``) after these rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil.toxicity.lexicon import SpellingLexicon

NONE = "none"
EVASION = "evasion"

LEET_LETTERS = {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
    "!": "i",
    "|": "l",
    "+": "t",
    "€": "e",
}
# symbols that end sentences or words: leetspeak only between letters ("sh!t", not "stop!")
_TRAILING_PUNCTUATION = set("!|+$")
LOOKALIKES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "α": "a",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
    }
)
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_LEET_CLASS = re.escape("".join(LEET_LETTERS))
_CANDIDATE = re.compile(rf"(?:[^\W_]|[{_LEET_CLASS}])+")
_NUMBERISH = re.compile(r"^[\d$€.,:/+-]*\d[\d.,:%]*(st|nd|rd|th|s|k|m|am|pm)?$", re.IGNORECASE)
_STRETCHED = re.compile(r"([^\W\d_])\1{2,}")
_SINGLE = rf"(?:[^\W_]|[{_LEET_CLASS}])"
_SPELLED = re.compile(rf"(?<![^\W_]){_SINGLE}(?:[ .\-_*]{_SINGLE}){{2,}}(?![^\W_])")


def _unleet(token: str) -> str:
    """Leetspeak letters of one token of letters, digits and leet symbols."""
    if not any(c.isalpha() for c in token) or _NUMBERISH.match(token):
        return token
    core = token.rstrip("".join(_TRAILING_PUNCTUATION))
    trailing = token[len(core) :]
    if not any(c in LEET_LETTERS for c in core):
        return token
    letters = [
        c if (c.isalnum() and c not in LEET_LETTERS) or _keeps_symbol(core, i) else LEET_LETTERS[c]
        for i, c in enumerate(core)
    ]
    return "".join(letters) + trailing


def _keeps_symbol(core: str, i: int) -> bool:
    """A symbol (not a digit) right before a capital starts a sentence: ``stupid!You``."""
    c = core[i]
    return c not in LEET_LETTERS or (
        not c.isdigit() and i + 1 < len(core) and core[i + 1].isupper()
    )


def _unspell(match: re.Match) -> str:
    """One word from single characters (letters or leetspeak) with separators between them;
    sequences of mostly digits (``1 2 3``, ``3.5.1``) are left alone."""
    chars = re.sub(r"[ .\-_*]", "", match.group(0))
    if sum(c.isalpha() for c in chars) < 2:
        return match.group(0)
    return chars


def _fold_lookalikes(match: re.Match) -> str:
    word = match.group(0)
    if any("a" <= c.lower() <= "z" for c in word):
        return word.translate(LOOKALIKES)
    return word


def undo_evasion(text: str) -> str:
    """``text`` with common evasion spellings undone (see the module docstring)."""
    text = unicodedata.normalize("NFKC", _ZERO_WIDTH.sub("", text))
    text = re.sub(r"\w+", _fold_lookalikes, text)
    text = _SPELLED.sub(_unspell, text)
    text = _CANDIDATE.sub(lambda m: _unleet(m.group(0)), text)
    return _STRETCHED.sub(r"\1\1", text)


NORMALIZERS: dict[str, Callable[[str], str]] = {NONE: lambda text: text, EVASION: undo_evasion}


def normalizer(name: str) -> Callable[[str], str]:
    """The normaliser called ``name`` (``none`` or ``evasion``)."""
    try:
        return NORMALIZERS[name or NONE]
    except KeyError:
        raise ValueError(
            f"unknown text normaliser {name!r}; use one of {list(NORMALIZERS)}"
        ) from None


@dataclass(frozen=True)
class TextNormalizer:
    """What a model applies to every text before tokenizing: the named rules, then spelling
    repair against the model's lexicon (``vigil.toxicity.lexicon``) when it has one."""

    name: str = NONE
    lexicon: SpellingLexicon | None = None

    def __call__(self, text: str) -> str:
        text = normalizer(self.name)(text)
        return text if self.lexicon is None else self.lexicon.repair(text)

    @classmethod
    def of_model(cls, folder: str | Path, name: str) -> TextNormalizer:
        """The normaliser a model saved in ``folder`` trained with (its lexicon file, if any)."""
        normalizer(name)  # fail early on an unknown name
        return cls(name, SpellingLexicon.load(folder))

    def describe(self) -> str:
        return self.name if self.lexicon is None else f"{self.name}+lexicon({len(self.lexicon)})"


def normalize_texts(texts: list[str], how: str | TextNormalizer) -> list[str]:
    """``texts`` through a normaliser given by name or as a :class:`TextNormalizer`."""
    if isinstance(how, str):
        how = TextNormalizer(how or NONE)
    if how.name == NONE and how.lexicon is None:
        return list(texts)
    return [how(t) for t in texts]
