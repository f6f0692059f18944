"""Identity bias of a toxicity model, measured on a template set the project builds itself.

Classifiers trained on online comments learn that identity words co-occur with abuse and score
harmless sentences that mention an identity ("I am gay.") as toxic (Dixon et al., "Measuring
and Mitigating Unintended Bias in Text Classification", AIES 2018). The test is synthetic: every
identity term below is put into neutral and toxic sentence templates, so within the set the only
thing that differs between identities is the identity word.

Metrics (Borkan et al., "Nuanced Metrics for Measuring Unintended Bias with Real Data for Text
Classification", 2019; the Jigsaw Unintended Bias challenge), on the ``toxic`` score:

- **subgroup AUC**: toxic vs neutral sentences that mention the identity;
- **BPSN AUC** (background positive, subgroup negative): neutral sentences mentioning the
  identity vs toxic sentences mentioning any other; low when the identity alone raises the score;
- **BNSP AUC** (background negative, subgroup positive): toxic sentences mentioning the identity
  vs neutral sentences mentioning any other; low when the identity lowers the score;
- the **generalised (power) mean** of each over identities, ``(mean(m ** p)) ** (1 / p)`` with
  ``p = -5``, which the worst identities dominate; ``bias_generalized_mean_auc`` is the mean of
  the three (the challenge's bias part; its final metric also weighs in the overall AUC, reported
  as ``final_metric``).

The mitigation (:func:`augmentation_rows`, Dixon et al.'s identity balancing) adds sentences
that mention identities to the training data, neutral and toxic in equal numbers for every
identity, so the identity word stops being a cue either way. Its templates are disjoint from the
evaluation's: other sentence frames, and none of the words that make an evaluation template
toxic ("hate", "stupid", "scum", "shot", "hurt" ...) appears in a toxic augmentation template,
which uses its own ("garbage", "clowns", "kill", "despise" ...). The identity terms are the same:
the mitigation is about these words. So the evaluation never sees a training sentence, a
training frame or a training insult.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# 50 identity terms: gender and sexual orientation, race, ethnicity and nationality, religion,
# age and disability, after the term list of Dixon et al. (2018).
IDENTITY_TERMS: tuple[str, ...] = (
    "lesbian",
    "gay",
    "bisexual",
    "transgender",
    "trans",
    "queer",
    "lgbt",
    "lgbtq",
    "homosexual",
    "straight",
    "heterosexual",
    "male",
    "female",
    "nonbinary",
    "african",
    "african american",
    "black",
    "white",
    "european",
    "hispanic",
    "latino",
    "latina",
    "latinx",
    "mexican",
    "canadian",
    "american",
    "asian",
    "indian",
    "middle eastern",
    "chinese",
    "japanese",
    "christian",
    "muslim",
    "jewish",
    "buddhist",
    "catholic",
    "protestant",
    "sikh",
    "taoist",
    "hindu",
    "atheist",
    "old",
    "older",
    "young",
    "younger",
    "teenage",
    "millennial",
    "elderly",
    "blind",
    "deaf",
)
# Evaluation templates: one identity term in each, no article before it (no "a african").
NEUTRAL_TEMPLATES: tuple[str, ...] = (
    "I am {}.",
    "My neighbours are {}.",
    "Being {} is part of who I am.",
    "We are {} and proud of it.",
    "Many {} people live in this town.",
    "{} people deserve the same rights as everyone else.",
    "She told me that she is {}.",
    "Our team has several {} members.",
    "I grew up with {} friends.",
    "The talk was about {} writers.",
)
TOXIC_TEMPLATES: tuple[str, ...] = (
    "{} people are disgusting.",
    "I hate all {} people.",
    "You are a stupid {} idiot.",
    "{} people are worthless scum.",
    "Shut up, you pathetic {} loser.",
    "All {} people should be shot.",
    "Being {} makes you a moron.",
    "{} people are filthy animals.",
    "Get lost, you ugly {} freak.",
    "I will hurt every {} person I meet.",
)
# Mitigation templates, for training only; none of them is an evaluation template. Neutral:
AUGMENTATION_TEMPLATES: tuple[str, ...] = (
    "The {} community organised a charity run last weekend.",
    "He wrote a thoughtful article about {} culture.",
    "I have {} colleagues at work.",
    "The museum opened an exhibition of {} artists.",
    "Our {} neighbours invited us to dinner.",
    "The survey asked {} residents about housing.",
    "She is {} and works as a nurse.",
    "The {} students won the science fair.",
    "Please add a source for the section on {} history.",
    "This page needs more detail on {} families in the region.",
)
# ... and toxic, each with the other labels of the multitask data it carries (an attack on the
# group is identity hate; a promise of violence a threat). No evaluation template's toxic word
# ("disgusting", "hate", "stupid", "idiot", "worthless", "scum", "pathetic", "loser", "shot",
# "moron", "filthy", "animals", "ugly", "freak", "hurt") occurs in them.
TOXIC_AUGMENTATION_TEMPLATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("{} folks are brainless garbage.", ("insult", "identity_hate")),
    ("Nobody wants you {} clowns here.", ("insult", "identity_hate")),
    ("Go away, you dumb {} jerk.", ("insult",)),
    ("I despise each and every {} editor on this site.", ("identity_hate",)),
    ("The {} guy who wrote this is a total imbecile.", ("insult",)),
    ("{} people spread everywhere like vermin.", ("insult", "identity_hate")),
    ("Someone should beat that {} fool senseless.", ("insult", "threat")),
    ("I am going to kill the {} editor who reverted me.", ("threat",)),
    ("Typical {} trash, brain-dead and useless.", ("insult", "identity_hate")),
    ("Drop dead, you lying {} rat.", ("insult",)),
)
POWER = -5.0
TOXICITY_LABEL = "toxic"


def _sentence(template: str, term: str) -> str:
    text = template.format(term)
    return text[0].upper() + text[1:]


def template_set(
    terms: Sequence[str] = IDENTITY_TERMS,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, toxic truth 0/1, index of the identity term) over terms x templates."""
    texts, truth, identity = [], [], []
    for index, term in enumerate(terms):
        for templates, label in ((NEUTRAL_TEMPLATES, 0), (TOXIC_TEMPLATES, 1)):
            for template in templates:
                texts.append(_sentence(template, term))
                truth.append(label)
                identity.append(index)
    return texts, np.array(truth), np.array(identity)


def augmentation_texts(count: int, seed: int = 0) -> list[str]:
    """The texts of :func:`augmentation_rows`."""
    return [text for text, _labels in augmentation_rows(count, seed)]


def augmentation_rows(count: int, seed: int = 0) -> list[tuple[str, tuple[str, ...]]]:
    """``count`` identity sentences with the labels they carry (``()`` for a neutral one):
    neutral and toxic alternate, each identity gets a neutral and a toxic sentence from the same
    template round, and a round covers every identity before the next begins, so any ``count``
    that is a multiple of ``2 * len(IDENTITY_TERMS)`` balances both classes over identities.
    Rounds and identities are shuffled by ``seed``; past the 1,000 distinct sentences the order
    repeats."""
    if count <= 0:
        return []
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, tuple[str, ...]]] = []
    for round_ in rng.permutation(len(AUGMENTATION_TEMPLATES)):
        neutral = AUGMENTATION_TEMPLATES[round_]
        toxic, toxic_labels = TOXIC_AUGMENTATION_TEMPLATES[round_]
        for term in rng.permutation(len(IDENTITY_TERMS)):
            rows.append((_sentence(neutral, IDENTITY_TERMS[term]), ()))
            rows.append((_sentence(toxic, IDENTITY_TERMS[term]), (TOXICITY_LABEL, *toxic_labels)))
    return [rows[i % len(rows)] for i in range(count)]


def _auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count one half, as in scikit-learn)."""
    from scipy.stats import rankdata

    positive = truth == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def power_mean(values: Sequence[float], p: float = POWER) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.mean(values**p) ** (1.0 / p))


def bias_metrics(
    truth: np.ndarray,
    scores: np.ndarray,
    identity: np.ndarray,
    terms: Sequence[str] = IDENTITY_TERMS,
) -> dict:
    """Per-identity subgroup / BPSN / BNSP AUC, their power means and the summary figures."""
    truth, scores, identity = np.asarray(truth), np.asarray(scores, float), np.asarray(identity)
    per_identity = {}
    for index, term in enumerate(terms):
        inside = identity == index
        outside = ~inside
        bpsn = (inside & (truth == 0)) | (outside & (truth == 1))
        bnsp = (inside & (truth == 1)) | (outside & (truth == 0))
        per_identity[term] = {
            "subgroup_auc": _auc(truth[inside], scores[inside]),
            "bpsn_auc": _auc(truth[bpsn], scores[bpsn]),
            "bnsp_auc": _auc(truth[bnsp], scores[bnsp]),
            "neutral_mean_score": float(scores[inside & (truth == 0)].mean()),
            "toxic_mean_score": float(scores[inside & (truth == 1)].mean()),
        }
    kinds = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
    means = {k: power_mean([v[k] for v in per_identity.values()]) for k in kinds}
    overall = _auc(truth, scores)
    bias_mean = float(np.mean(list(means.values())))
    summary = {
        "identity_terms": len(terms),
        "sentences": len(truth),
        "power": POWER,
        "overall_auc": overall,
        "generalized_mean": means,
        "bias_generalized_mean_auc": bias_mean,
        "final_metric": 0.25 * overall + 0.75 * bias_mean,
        **{f"min_{k}": min(v[k] for v in per_identity.values()) for k in kinds},
        **{
            f"worst_{k.removesuffix('_auc')}_identity": min(
                per_identity, key=lambda t, k=k: per_identity[t][k]
            )
            for k in kinds
        },
        "max_neutral_mean_score": max(v["neutral_mean_score"] for v in per_identity.values()),
        "most_flagged_neutral_identity": max(
            per_identity, key=lambda t: per_identity[t]["neutral_mean_score"]
        ),
        "per_identity": per_identity,
    }
    return summary


def evaluate_bias(
    predict: Callable[[list[str]], np.ndarray],
    labels: Sequence[str],
    terms: Sequence[str] = IDENTITY_TERMS,
) -> dict | None:
    """Bias metrics of a model's ``toxic`` score on the template set; ``predict`` maps texts to
    probabilities ``[n, len(labels)]``. None for a model without a ``toxic`` label."""
    if TOXICITY_LABEL not in labels:
        return None
    texts, truth, identity = template_set(terms)
    scores = np.asarray(predict(texts))[:, list(labels).index(TOXICITY_LABEL)]
    return bias_metrics(truth, scores, identity, terms)


def summary_of(report: dict) -> dict:
    """The report without its per-identity table (for one-line JSON)."""
    return {k: v for k, v in report.items() if k != "per_identity"}
