"""Deterministic spelling obfuscation, as users do to evade filters: character swaps, repeated
letters, leetspeak and inserted spaces. Seeded, so the benchmark's obfuscated copy is fixed."""

from __future__ import annotations

import random

LEET = {"a": "@", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7", "l": "1"}


def obfuscate_word(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    kind = rng.randrange(4)
    chars = list(word)
    if kind == 0:  # swap two inner neighbours
        i = rng.randrange(1, len(chars) - 2)
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    elif kind == 1:  # repeat a letter
        i = rng.randrange(len(chars))
        chars.insert(i, chars[i] * rng.randint(1, 2))
    elif kind == 2:  # leetspeak
        chars = [LEET.get(c.lower(), c) if rng.random() < 0.6 else c for c in chars]
    else:  # inserted space
        i = rng.randrange(1, len(chars) - 1)
        chars.insert(i, " ")
    return "".join(chars)


def obfuscate(text: str, *, seed: int = 0, rate: float = 0.5) -> str:
    """Obfuscate about ``rate`` of the words (of 4+ letters) of ``text``; same seed, same output."""
    rng = random.Random(f"{seed}:{text}")
    return " ".join(obfuscate_word(w, rng) if rng.random() < rate else w for w in text.split(" "))
