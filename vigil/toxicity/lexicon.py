"""Spelling repair against a word lexicon stored with the model: the evasions that rules cannot
undo (``vigil.toxicity.normalize`` handles leetspeak, stretched letters, spelled-out words and
look-alike characters; this module runs after it).

What it repairs, for a word the lexicon does not know (3+ letters):

- swapped neighbours: ``stpuid`` → ``stupid``;
- one letter too many (a doubled letter, a stray character): ``sttupid`` → ``stupid``;
- ``i``/``l`` confusion left by leetspeak ``1`` (``1ittle`` → ``iittle`` → ``little``,
  ``ki11`` → ``kii`` → ``kill``);
- a word split by a space: ``stu pid`` → ``stupid``, when the joined word is known and a part
  is not a word (or is a lone letter other than ``a``/``i``), or both parts are rarer than the
  joined word (so ``the rapist`` and ``can not`` stay apart).

Among the candidates the lexicon knows, the most frequent wins; a word with no known candidate is
left as it is. Known words are never touched, so clean text changes only where it held a rare
word one edit away from a common one.

The lexicon is built at training time from the training texts (words seen at least
``min_count`` times, after the rule-based normaliser) plus, optionally, the most frequent English
words of the ``wordfreq`` package (offline data on PyPI), weighted on one scale; it is saved as
``lexicon.json`` beside the model, so inference needs only that file. Measured on the benchmark's
obfuscated test copy: 96 % of the clean words come back (82 % with the rules alone).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

LEXICON_FILE = "lexicon.json"
NONE, CORPUS, CORPUS_ENGLISH = "none", "corpus", "corpus+english"
SOURCES = (NONE, CORPUS, CORPUS_ENGLISH)

_WORD = re.compile(r"[^\W\d_]+")
_LEADING_WORD = re.compile(r"([^\W\d_]+)(.*)$", re.DOTALL)
_I_L = {"i": "l", "l": "i"}
_LONE_WORDS = {"a", "i"}  # single letters that are words (anything else alone is a fragment)
MIN_WORD_LENGTH = 3


def _recase(source: str, word: str) -> str:
    """``word`` in the case pattern of ``source`` (ALL CAPS, Capitalised or lower)."""
    if len(source) > 1 and source.isupper():
        return word.upper()
    if source[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _candidates(word: str) -> Iterable[str]:
    """Every word one repair away from ``word`` (lower case)."""
    n = len(word)
    for i in range(n):  # one letter too many
        yield word[:i] + word[i + 1 :]
    for i in range(n - 1):  # swapped neighbours
        yield word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    for i, c in enumerate(word):  # one i/l confused
        if c in _I_L:
            yield word[:i] + _I_L[c] + word[i + 1 :]
    if "i" in word:  # every 1 read as i that was an l
        yield word.replace("i", "l")
    if "ii" in word:  # "ki11" → "kiii" → (stretched letters) "kii": an l and a lost l
        yield word.replace("ii", "ill")


@dataclass(frozen=True)
class SpellingLexicon:
    """word (lower case) → weight (a corpus count scale); see the module docstring."""

    weights: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.weights)

    def knows(self, word: str) -> bool:
        return word.lower() in self.weights

    def correct_word(self, word: str) -> str:
        low = word.lower()
        if len(low) < MIN_WORD_LENGTH or low in self.weights:
            return word
        best, best_weight = None, 0
        for candidate in _candidates(low):
            weight = self.weights.get(candidate, 0)
            if weight > best_weight and len(candidate) >= MIN_WORD_LENGTH:
                best, best_weight = candidate, weight
        return word if best is None else _recase(word, best)

    def _fragment(self, part: str) -> bool:
        low = part.lower()
        return low not in self.weights or (len(low) == 1 and low not in _LONE_WORDS)

    def _joins(self, left: str, right: str) -> bool:
        """Join when the joined word is known and a part is not a word, or both parts are rarer
        than the joined word (``stu pid``; never ``the rapist`` or ``can not``)."""
        joined = self.weights.get((left + right).lower(), 0)
        if not joined:
            return False
        if self._fragment(left) or self._fragment(right):
            return True
        weight = self.weights.get
        return joined > weight(left.lower(), 0) and joined > weight(right.lower(), 0)

    def join_split_words(self, text: str) -> str:
        tokens = text.split(" ")
        out: list[str] = []
        i = 0
        while i < len(tokens):
            left = tokens[i]
            if i + 1 < len(tokens) and _WORD.fullmatch(left):
                match = _LEADING_WORD.match(tokens[i + 1])
                if match:
                    right, rest = match.group(1), match.group(2)
                    if self._joins(left, right):
                        joined = (left + right).lower()
                        out.append(_recase(left, joined) + rest)
                        i += 2
                        continue
            out.append(left)
            i += 1
        return " ".join(out)

    def repair(self, text: str) -> str:
        """``text`` (already through the rule-based normaliser) with split words joined and
        unknown words replaced by their most frequent known repair."""
        text = self.join_split_words(text)
        return _WORD.sub(lambda m: self.correct_word(m.group(0)), text)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / LEXICON_FILE
        path.write_text(json.dumps(dict(sorted(self.weights.items())), separators=(",", ":")))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> SpellingLexicon | None:
        """The lexicon saved beside a model, or None when the model has none."""
        path = Path(folder) / LEXICON_FILE
        if not path.is_file():
            return None
        return cls(json.loads(path.read_text()))


def build_lexicon(
    texts: Iterable[str],
    *,
    source: str = CORPUS_ENGLISH,
    min_count: int = 3,
    english_words: int = 40_000,
) -> SpellingLexicon | None:
    """The lexicon of ``texts`` (already normalised by the rules) for ``source``:
    ``none`` → None, ``corpus`` → words seen ``min_count``+ times, ``corpus+english`` → those plus
    the ``english_words`` most frequent English words of ``wordfreq``, weighted 10^(zipf − 2)
    (a word used once per million words weighs 10, "the" about 500,000)."""
    if source not in SOURCES:
        raise ValueError(f"unknown lexicon source {source!r}; use one of {list(SOURCES)}")
    if source == NONE:
        return None
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w.lower() for w in _WORD.findall(text))
    weights = {w: c for w, c in counts.items() if c >= min_count}
    if source == CORPUS_ENGLISH:
        import wordfreq

        for word in wordfreq.top_n_list("en", english_words):
            if _WORD.fullmatch(word):
                zipf = wordfreq.zipf_frequency(word, "en")
                weights[word] = weights.get(word, 0) + max(1, round(10 ** (zipf - 2)))
    return SpellingLexicon(weights)
