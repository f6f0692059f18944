"""Synthetic card transactions in the exact IEEE-CIS layout, with fraud rings.

``python -m vigil.fraud.datagen --transactions 100000 --seed 7 --out data/fraud`` writes
``train_transaction.csv`` (394 columns) and ``train_identity.csv`` (41 columns) the way Kaggle
distributes them (``--format parquet`` writes Parquet instead). Deterministic per seed, vectorised
(100k transactions in a few seconds), any size from 1k to 600k (and beyond).

What is inside:

* **Legitimate customers** (about five transactions each, heavy-tailed) keep one card
  (``card1``–``card6``), billing address (``addr1``/``addr2``), e-mail domains and, when the
  transaction has an identity row, one device, spread over the whole six-month timeline.
  Hub values exist as in the real data: ``ProductCD`` ``W`` (~70% of rows), ``gmail.com``
  (~40%), ``visa``/``debit``, ``addr2`` ``87``, ``DeviceType`` ``desktop``, ``DeviceInfo``
  ``Windows``.
* **Fraud rings** (about three quarters of the fraud): 3–25 transactions within a few days that
  reuse a handful of cards (fresh or stolen from a customer), one address, one e-mail domain and
  one device (drawn from a pool of devices that rings keep reusing over time).
* **Isolated fraud**: single transactions on a stolen customer card.
* Fraud rows differ from legitimate ones only weakly per row (amount, ``C`` counts, ``D1``,
  ``dist1``, ``M4``/``M6``, ``ProductCD``), so a model that sees only the row does moderately,
  while one that also sees the transactions sharing a card or device does much better — the
  graph signal the RGCN is meant to find.
* Realistic types and missingness: ``M`` columns are ``T``/``F`` (``M4``: ``M0``–``M2``), most
  ``V`` columns are missing in blocks, ``dist2``/``R_emaildomain`` are mostly empty, only about a
  quarter of transactions (more of the fraud) have an identity row, ``TransactionDT`` counts
  seconds from a reference (starting at 86,400), about 3.5% of rows are fraud.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vigil.fraud.schema import (
    ID_COLUMN,
    IDENTITY_COLUMNS,
    LABEL_COLUMN,
    TIME_COLUMN,
    TRANSACTION_COLUMNS,
)

DAY = 86_400
TIMELINE_DAYS = 182
FIRST_TRANSACTION_ID = 2_987_000

EMAIL_DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "anonymous.com",
    "aol.com",
    "comcast.net",
    "icloud.com",
    "outlook.com",
    "msn.com",
    "att.net",
    "live.com",
    "sbcglobal.net",
    "verizon.net",
    "ymail.com",
    "bellsouth.net",
    "yahoo.com.mx",
    "me.com",
    "cox.net",
    "optonline.net",
    "charter.net",
    "live.com.mx",
    "rocketmail.com",
    "mail.com",
    "earthlink.net",
    "gmail",
    "outlook.es",
    "mac.com",
    "juno.com",
    "aim.com",
    "hotmail.es",
    "roadrunner.com",
    "windstream.net",
    "hotmail.fr",
    "frontier.com",
    "embarqmail.com",
    "web.de",
    "netzero.com",
    "twc.com",
    "prodigy.net.mx",
    "centurylink.net",
    "netzero.net",
    "frontiernet.net",
    "q.com",
    "suddenlink.net",
    "cfl.rr.com",
    "sc.rr.com",
    "cableone.net",
    "gmx.de",
    "yahoo.fr",
    "yahoo.es",
    "hotmail.co.uk",
    "protonmail.com",
    "yahoo.de",
    "ptd.net",
    "live.fr",
    "yahoo.co.uk",
    "hotmail.de",
    "servicios-ta.com",
    "yahoo.co.jp",
]
# Domains fraud rings prefer (they are used by customers too).
FRAUD_EMAIL_DOMAINS = [
    "protonmail.com",
    "mail.com",
    "outlook.es",
    "aim.com",
    "hotmail.com",
    "outlook.com",
    "gmail.com",
    "anonymous.com",
]
DEVICE_MODELS = [
    "SM-J700M",
    "SM-G610M",
    "SM-G531H",
    "SM-G935F",
    "SM-G955U",
    "SM-A300H",
    "SM-J320M",
    "SM-G950U",
    "SM-N950U",
    "Moto",
    "G",
    "(4)",
    "Moto",
    "E",
    "(4)",
    "Plus",
    "LG-K500",
    "LG-H870",
    "Hisense",
    "L675",
    "HUAWEI",
    "VNS-L23",
    "ALE-L23",
    "Redmi",
    "Note",
    "4",
    "Redmi",
    "5",
    "Plus",
    "Pixel",
    "XT1635-02",
    "ZTE",
    "Blade",
    "A602",
    "Lenovo",
    "K33b36",
    "A3-A40",
    "KFFOWI",
    "F3113",
    "G3223",
    "5080A",
    "5051A",
    "7055A",
]
BUILDS = [
    "MMB29K",
    "NRD90M",
    "LMY48B",
    "MRA58K",
    "NPJ25.93-14.7",
    "OPR1.170623.026",
    "NMF26F",
    "HUAWEIVNS-L23",
    "R16NW",
]
TOP_DEVICES = ["Windows", "iOS Device", "MacOS", "Trident/7.0", "rv:11.0", "rv:57.0"]
TOP_DEVICE_WEIGHTS = [0.32, 0.20, 0.07, 0.05, 0.02, 0.01]
PRODUCTS = ["W", "C", "R", "H", "S"]
PRODUCT_P_LEGIT = [0.755, 0.10, 0.065, 0.055, 0.025]
PRODUCT_P_FRAUD = [0.68, 0.17, 0.06, 0.065, 0.025]
CARD4 = ["visa", "mastercard", "american express", "discover"]
CARD4_P = [0.65, 0.32, 0.014, 0.016]
CARD6 = ["debit", "credit", "debit or credit", "charge card"]
CARD6_P = [0.745, 0.2535, 0.001, 0.0005]
CARD3 = [150.0, 185.0, 106.0, 144.0, 146.0, 117.0]
CARD3_P = [0.88, 0.095, 0.01, 0.006, 0.005, 0.004]
CARD5 = [226.0, 224.0, 166.0, 102.0, 117.0, 138.0, 195.0, 137.0, 126.0, 219.0]
CARD5_P = [0.51, 0.14, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03, 0.025, 0.025]
OS_BY_TYPE = {
    "desktop": ["Windows 10", "Windows 7", "Mac OS X 10_12_6", "Windows 8.1", "Linux"],
    "mobile": ["iOS 11.2.1", "iOS 11.1.2", "Android 7.0", "Android 8.0.0", "iOS 11.3.0"],
}
BROWSERS = {
    "desktop": [
        "chrome 63.0",
        "ie 11.0 for desktop",
        "firefox 57.0",
        "safari generic",
        "edge 16.0",
    ],
    "mobile": [
        "mobile safari 11.0",
        "chrome 63.0 for android",
        "samsung browser 6.2",
        "mobile safari generic",
        "chrome 62.0 for android",
    ],
}
RESOLUTIONS = ["1920x1080", "1366x768", "1334x750", "2208x1242", "1440x900", "2560x1600"]
# Missingness blocks of the V columns: (first, last, fraction present).
V_BLOCKS = [
    (1, 11, 0.53),
    (12, 34, 0.87),
    (35, 52, 0.72),
    (53, 74, 0.87),
    (75, 94, 0.85),
    (95, 137, 0.999),
    (138, 166, 0.14),
    (167, 216, 0.24),
    (217, 278, 0.22),
    (279, 321, 0.999),
    (322, 339, 0.14),
]


@dataclass
class GeneratedData:
    transactions: pd.DataFrame
    identity: pd.DataFrame
    ring_id: np.ndarray
    """Per transaction row: the fraud ring it belongs to, or -1 (for tests and analysis)."""


def _zipf_weights(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def _pick(rng: np.random.Generator, values, size: int, p=None) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=size, p=p)]


def _nan_where(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    out = values.astype(np.float64, copy=True)
    out[missing] = np.nan
    return out


def _none_where(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    out = values.astype(object, copy=True)
    out[missing] = None
    return out


def generate(
    n_transactions: int,
    seed: int = 0,
    *,
    fraud_rate: float = 0.035,
    ring_share: float = 0.75,
    identity_rate: float = 0.24,
) -> GeneratedData:
    """Generate ``n_transactions`` rows (``train_transaction`` and ``train_identity`` frames)."""
    if n_transactions < 10:
        raise ValueError(f"need at least 10 transactions, got {n_transactions}")
    if not 0 < fraud_rate < 0.5:
        raise ValueError(f"fraud_rate must be in (0, 0.5), got {fraud_rate}")
    rng = np.random.default_rng(seed)
    n = int(n_transactions)
    n_fraud = max(2, round(n * fraud_rate))
    n_ring_tx = round(n_fraud * ring_share)
    n_isolated = n_fraud - n_ring_tx
    n_legit = n - n_fraud

    # --- customers --------------------------------------------------------------------------
    n_users = max(2, n_legit // 5)
    user_weight = rng.lognormal(0.0, 0.9, n_users)
    user_weight /= user_weight.sum()
    card1_pool = np.arange(1000, 18397)
    user_card1 = rng.choice(card1_pool, n_users)
    user_card2 = rng.integers(100, 601, n_users).astype(float)
    user_card3 = _pick(rng, CARD3, n_users, CARD3_P).astype(float)
    user_card4 = _pick(rng, CARD4, n_users, CARD4_P)
    user_card5 = _pick(rng, CARD5, n_users, CARD5_P).astype(float)
    user_card6 = _pick(rng, CARD6, n_users, CARD6_P)
    addr1_values = np.arange(100, 541)
    user_addr1 = rng.choice(addr1_values, n_users, p=_zipf_weights(len(addr1_values), 0.9))
    user_addr2 = np.where(
        rng.random(n_users) < 0.995, 87.0, rng.choice([60.0, 96.0, 32.0], n_users)
    )
    email_p = _zipf_weights(len(EMAIL_DOMAINS), 1.35)
    user_pmail = _pick(rng, EMAIL_DOMAINS, n_users, email_p)
    user_rmail = np.where(
        rng.random(n_users) < 0.5, user_pmail, _pick(rng, EMAIL_DOMAINS, n_users, email_p)
    )
    tail = [f"{m} Build/{b}" for m in DEVICE_MODELS for b in BUILDS]
    device_values = TOP_DEVICES + tail
    device_p = np.concatenate(
        [TOP_DEVICE_WEIGHTS, _zipf_weights(len(tail), 1.1) * (1 - sum(TOP_DEVICE_WEIGHTS))]
    )
    device_p /= device_p.sum()
    user_device = _pick(rng, device_values, n_users, device_p)
    user_first_day = rng.uniform(-700, 150, n_users)  # card first seen (D1 reference)

    legit_user = rng.choice(n_users, n_legit, p=user_weight)
    legit_time = rng.uniform(DAY, DAY * (TIMELINE_DAYS + 1), n_legit)

    # --- fraud rings ------------------------------------------------------------------------
    sizes = []
    remaining = n_ring_tx
    while remaining > 0:
        size = int(min(remaining, max(3, min(25, 3 + rng.poisson(7)))))
        if remaining - size in (1, 2):  # never leave a ring of one or two
            size = remaining
        sizes.append(size)
        remaining -= size
    n_rings = len(sizes)
    ring_of = np.repeat(np.arange(n_rings), sizes)
    ring_start = rng.uniform(DAY, DAY * (TIMELINE_DAYS + 1 - 4), n_rings)
    ring_span = np.minimum(rng.exponential(1.5 * DAY, n_rings), 4 * DAY)
    ring_time = ring_start[ring_of] + rng.uniform(0, 1, n_ring_tx) * ring_span[ring_of]
    # each ring uses 1-3 cards: fresh ones (70%) or stolen from a customer
    ring_n_cards = rng.integers(1, 4, n_rings)
    card_slot = (rng.random(n_ring_tx) * ring_n_cards[ring_of]).astype(int)
    n_ring_cards = int(ring_n_cards.sum())
    ring_card_base = np.concatenate([[0], np.cumsum(ring_n_cards)[:-1]])
    ring_card_idx = ring_card_base[ring_of] + card_slot
    stolen = rng.random(n_ring_cards) < 0.3
    stolen_user = rng.choice(n_users, n_ring_cards)
    rc_card1 = np.where(stolen, user_card1[stolen_user], rng.choice(card1_pool, n_ring_cards))
    rc_card2 = np.where(stolen, user_card2[stolen_user], rng.integers(100, 601, n_ring_cards))
    rc_card3 = np.where(stolen, user_card3[stolen_user], _pick(rng, CARD3, n_ring_cards, CARD3_P))
    rc_card4 = np.where(stolen, user_card4[stolen_user], _pick(rng, CARD4, n_ring_cards, CARD4_P))
    rc_card5 = np.where(stolen, user_card5[stolen_user], _pick(rng, CARD5, n_ring_cards, CARD5_P))
    rc_card6 = np.where(stolen, user_card6[stolen_user], _pick(rng, CARD6, n_ring_cards, CARD6_P))
    # when the ring's card was first seen: a stolen card keeps its history; half the fresh cards
    # look as old as a customer's, half are new (D1 measures days since first use)
    rc_first_day = np.where(
        stolen,
        user_first_day[stolen_user],
        np.where(
            rng.random(n_ring_cards) < 0.5,
            rng.uniform(-700, 150, n_ring_cards),
            ring_start[np.repeat(np.arange(n_rings), ring_n_cards)] / DAY
            - rng.exponential(30, n_ring_cards),
        ),
    )
    ring_addr1 = rng.choice(addr1_values, n_rings)
    ring_pmail = _pick(rng, FRAUD_EMAIL_DOMAINS, n_rings)
    # devices: a pool rings keep reusing over time, plus fresh ones
    pool_size = max(1, n_rings // 3)
    pool = np.array(
        [
            f"{rng.choice(DEVICE_MODELS)} Build/{rng.integers(10**5, 10**6):06d}F"
            for _ in range(pool_size)
        ],
        dtype=object,
    )
    fresh = np.array(
        [
            f"{rng.choice(DEVICE_MODELS)} Build/{rng.integers(10**5, 10**6):06d}R"
            for _ in range(n_rings)
        ],
        dtype=object,
    )
    ring_device = np.where(
        rng.random(n_rings) < 0.5, pool[rng.integers(0, pool_size, n_rings)], fresh
    )
    ring_has_identity = rng.random(n_rings) < 0.7

    # --- isolated fraud: a stolen customer card, at any time --------------------------------
    iso_user = rng.choice(n_users, n_isolated)
    iso_time = rng.uniform(DAY, DAY * (TIMELINE_DAYS + 1), n_isolated)

    # --- assemble per-transaction entity columns --------------------------------------------
    def cat(legit, ring, iso):
        return np.concatenate([legit, ring, iso])

    kind = cat(np.zeros(n_legit, int), np.ones(n_ring_tx, int), np.full(n_isolated, 2))
    fraud = kind > 0
    ring_id = cat(np.full(n_legit, -1), ring_of, np.full(n_isolated, -1))
    t = cat(legit_time, ring_time, iso_time)
    lu, iu, rc = legit_user, iso_user, ring_card_idx
    card1 = cat(user_card1[lu], rc_card1[rc], user_card1[iu])
    card2 = cat(user_card2[lu], rc_card2[rc].astype(float), user_card2[iu])
    card3 = cat(user_card3[lu], rc_card3[rc].astype(float), user_card3[iu])
    card4 = cat(user_card4[lu], rc_card4[rc], user_card4[iu])
    card5 = cat(user_card5[lu], rc_card5[rc].astype(float), user_card5[iu])
    card6 = cat(user_card6[lu], rc_card6[rc], user_card6[iu])
    addr1 = cat(user_addr1[lu], ring_addr1[ring_of], rng.choice(addr1_values, n_isolated)).astype(
        float
    )
    addr2 = cat(user_addr2[lu], np.full(n_ring_tx, 87.0), user_addr2[iu])
    pmail = cat(user_pmail[lu], ring_pmail[ring_of], _pick(rng, FRAUD_EMAIL_DOMAINS, n_isolated))
    rmail = cat(user_rmail[lu], ring_pmail[ring_of], user_rmail[iu])
    device = cat(
        user_device[lu], ring_device[ring_of], _pick(rng, device_values, n_isolated, device_p)
    )
    first_day = cat(user_first_day[lu], rc_first_day[rc], user_first_day[iu])
    has_identity = cat(
        rng.random(n_legit) < identity_rate,
        ring_has_identity[ring_of],
        rng.random(n_isolated) < 0.5,
    )

    order = np.argsort(t, kind="stable")
    (t, fraud, kind, ring_id, card1, card2, card3, card4, card5, card6, addr1, addr2, pmail,
     rmail, device, first_day, has_identity) = (
        a[order] for a in (t, fraud, kind, ring_id, card1, card2, card3, card4, card5, card6,
                           addr1, addr2, pmail, rmail, device, first_day, has_identity)
    )  # fmt: skip

    # --- row features: weak per-row fraud signal --------------------------------------------
    f = fraud.astype(float)
    day = t / DAY
    product = np.where(
        fraud, _pick(rng, PRODUCTS, n, PRODUCT_P_FRAUD), _pick(rng, PRODUCTS, n, PRODUCT_P_LEGIT)
    )
    amount = np.round(np.exp(rng.normal(3.9 + 0.15 * f, 1.0)), 3) + 0.25
    cols: dict[str, np.ndarray] = {
        ID_COLUMN: FIRST_TRANSACTION_ID + np.arange(n),
        LABEL_COLUMN: fraud.astype(np.int64),
        TIME_COLUMN: np.floor(t).astype(np.int64),
        "TransactionAmt": amount,
        "ProductCD": product,
        "card1": card1.astype(np.int64),
        "card2": _nan_where(card2, rng.random(n) < 0.015),
        "card3": _nan_where(card3, rng.random(n) < 0.003),
        "card4": _none_where(card4, rng.random(n) < 0.003),
        "card5": _nan_where(card5, rng.random(n) < 0.007),
        "card6": _none_where(card6, rng.random(n) < 0.003),
    }
    addr_missing = rng.random(n) < 0.11
    cols["addr1"] = _nan_where(addr1, addr_missing)
    cols["addr2"] = _nan_where(addr2, addr_missing)
    cols["dist1"] = _nan_where(np.round(rng.exponential(80 + 20 * f)), rng.random(n) < 0.6)
    cols["dist2"] = _nan_where(np.round(rng.exponential(200, n)), rng.random(n) < 0.93)
    cols["P_emaildomain"] = _none_where(pmail, rng.random(n) < 0.13)
    cols["R_emaildomain"] = _none_where(rmail, rng.random(n) < (0.77 - 0.3 * f))
    c_rate = rng.lognormal(0.0, 0.8, n) * (1 + 0.2 * f)
    for k in range(1, 15):
        lam = c_rate * (1.2 if k in (1, 2, 6, 11, 13, 14) else 0.3)
        values = rng.poisson(lam).astype(float)
        cols[f"C{k}"] = _nan_where(values, np.zeros(n, bool))
    since_first = np.where(np.isnan(first_day), rng.exponential(40, n), day - first_day)
    since_first = np.clip(since_first, 0, 640)
    d_missing = rng.random(n)
    for k in range(1, 16):
        if k == 1:
            values = np.floor(since_first)
            missing = d_missing < 0.002
        else:
            values = np.floor(rng.uniform(0, 1, n) * (since_first + rng.exponential(30, n)))
            missing = d_missing < (0.15 + 0.04 * k)
        if k == 9:
            values = np.round((t % DAY) / DAY, 6)
        cols[f"D{k}"] = _nan_where(values, missing)
    m_missing = rng.random(n)
    for k in range(1, 10):
        if k == 4:
            values = np.where(
                rng.random(n) < 0.12 + 0.06 * f, "M2", np.where(rng.random(n) < 0.5, "M0", "M1")
            )
        else:
            p_true = {
                1: 0.999,
                2: 0.89,
                3: 0.79,
                5: 0.45,
                6: 0.46 - 0.06 * f,
                7: 0.13,
                8: 0.36,
                9: 0.84,
            }[k]
            values = np.where(rng.random(n) < p_true, "T", "F")
        missing = m_missing < (0.45 if k in (1, 2, 3) else 0.5 if k in (5, 6) else 0.58)
        cols[f"M{k}"] = _none_where(values.astype(object), missing)
    v_lam = rng.uniform(0.05, 1.5, 340)
    for first, last, present in V_BLOCKS:
        block_missing = rng.random(n) >= present
        for k in range(first, last + 1):
            if 126 <= k <= 137 or 306 <= k <= 321:
                values = np.round(np.where(rng.random(n) < 0.8, 0.0, rng.lognormal(3.5, 1.5, n)), 3)
            else:
                values = rng.poisson(v_lam[k], n).astype(float)
            cols[f"V{k}"] = _nan_where(values, block_missing)
    transactions = pd.DataFrame({c: cols[c] for c in TRANSACTION_COLUMNS})

    identity = _identity_rows(
        rng, cols[ID_COLUMN][has_identity], device[has_identity], fraud[has_identity]
    )
    return GeneratedData(transactions=transactions, identity=identity, ring_id=ring_id)


def _identity_rows(
    rng: np.random.Generator, ids: np.ndarray, device: np.ndarray, fraud: np.ndarray
) -> pd.DataFrame:
    m = len(ids)
    mobile_names = ("iOS Device", "MacOS")
    device_type = np.where(
        (device == "Windows")
        | (device == "MacOS")
        | (device == "Trident/7.0")
        | (device == "rv:11.0"),
        "desktop",
        "mobile",
    )
    device_type = np.where(np.isin(device, mobile_names[:1]), "mobile", device_type)
    f = fraud.astype(float)
    cols: dict[str, np.ndarray] = {ID_COLUMN: ids}
    cols["id_01"] = 0.0 - 5.0 * rng.choice(
        [0, 1, 2, 4, 10, 20], m, p=[0.55, 0.2, 0.1, 0.07, 0.05, 0.03]
    )
    cols["id_02"] = _nan_where(np.round(rng.exponential(150_000, m)), rng.random(m) < 0.02)
    cols["id_03"] = _nan_where(
        rng.choice([0.0, 1.0, -5.0], m, p=[0.9, 0.05, 0.05]), rng.random(m) < 0.54
    )
    cols["id_04"] = _nan_where(rng.choice([0.0, -5.0], m, p=[0.95, 0.05]), rng.random(m) < 0.54)
    cols["id_05"] = _nan_where(rng.poisson(1.5, m).astype(float), rng.random(m) < 0.05)
    cols["id_06"] = _nan_where(-rng.poisson(6, m).astype(float), rng.random(m) < 0.05)
    cols["id_07"] = _nan_where(rng.normal(12, 11, m).round(), rng.random(m) < 0.96)
    cols["id_08"] = _nan_where(rng.normal(-38, 25, m).round(), rng.random(m) < 0.96)
    cols["id_09"] = _nan_where(rng.choice([0.0, 1.0, 3.0], m), rng.random(m) < 0.48)
    cols["id_10"] = _nan_where(
        rng.choice([0.0, -1.0, -6.0], m, p=[0.95, 0.03, 0.02]), rng.random(m) < 0.48
    )
    cols["id_11"] = _nan_where(
        np.where(rng.random(m) < 0.9, 100.0, rng.uniform(90, 100, m).round(2)), rng.random(m) < 0.02
    )
    cols["id_12"] = np.where(rng.random(m) < 0.75 - 0.1 * f, "NotFound", "Found").astype(object)
    cols["id_13"] = _nan_where(rng.integers(10, 65, m).astype(float), rng.random(m) < 0.12)
    cols["id_14"] = _nan_where(rng.choice([-300.0, -360.0, -480.0, 60.0], m), rng.random(m) < 0.45)
    cols["id_15"] = _none_where(
        np.where(rng.random(m) < 0.5 + 0.2 * f, "New", "Found").astype(object), rng.random(m) < 0.02
    )
    cols["id_16"] = _none_where(
        np.where(rng.random(m) < 0.55, "Found", "NotFound").astype(object), rng.random(m) < 0.1
    )
    cols["id_17"] = _nan_where(
        rng.choice([166.0, 225.0, 100.0], m, p=[0.5, 0.35, 0.15]), rng.random(m) < 0.03
    )
    cols["id_18"] = _nan_where(rng.choice([15.0, 13.0, 12.0], m), rng.random(m) < 0.68)
    cols["id_19"] = _nan_where(rng.integers(100, 671, m).astype(float), rng.random(m) < 0.03)
    cols["id_20"] = _nan_where(rng.integers(100, 661, m).astype(float), rng.random(m) < 0.03)
    cols["id_21"] = _nan_where(rng.integers(100, 854, m).astype(float), rng.random(m) < 0.96)
    cols["id_22"] = _nan_where(rng.choice([14.0, 41.0, 33.0], m), rng.random(m) < 0.96)
    cols["id_23"] = _none_where(
        rng.choice(["IP_PROXY:TRANSPARENT", "IP_PROXY:ANONYMOUS", "IP_PROXY:HIDDEN"], m).astype(
            object
        ),
        rng.random(m) < 0.96,
    )
    cols["id_24"] = _nan_where(rng.choice([11.0, 15.0, 16.0], m), rng.random(m) < 0.97)
    cols["id_25"] = _nan_where(rng.integers(100, 549, m).astype(float), rng.random(m) < 0.96)
    cols["id_26"] = _nan_where(rng.integers(100, 216, m).astype(float), rng.random(m) < 0.96)
    cols["id_27"] = _none_where(np.full(m, "Found", dtype=object), rng.random(m) < 0.96)
    cols["id_28"] = _none_where(
        np.where(rng.random(m) < 0.55, "Found", "New").astype(object), rng.random(m) < 0.02
    )
    cols["id_29"] = _none_where(
        np.where(rng.random(m) < 0.52, "Found", "NotFound").astype(object), rng.random(m) < 0.02
    )
    os_pick = rng.integers(0, 5, m)
    cols["id_30"] = _none_where(
        np.array(
            [OS_BY_TYPE[d][k] for d, k in zip(device_type, os_pick, strict=True)], dtype=object
        ),
        rng.random(m) < 0.46,
    )
    cols["id_31"] = _none_where(
        np.array([BROWSERS[d][k] for d, k in zip(device_type, os_pick, strict=True)], dtype=object),
        rng.random(m) < 0.03,
    )
    cols["id_32"] = _nan_where(
        rng.choice([24.0, 32.0, 16.0], m, p=[0.6, 0.35, 0.05]), rng.random(m) < 0.46
    )
    cols["id_33"] = _none_where(_pick(rng, RESOLUTIONS, m), rng.random(m) < 0.49)
    cols["id_34"] = _none_where(
        rng.choice(
            ["match_status:2", "match_status:1", "match_status:0"], m, p=[0.8, 0.18, 0.02]
        ).astype(object),
        rng.random(m) < 0.46,
    )
    for k in (35, 36, 37, 38):
        p = {35: 0.55, 36: 0.1, 37: 0.8, 38: 0.48}[k]
        cols[f"id_{k}"] = _none_where(
            np.where(rng.random(m) < p, "T", "F").astype(object), rng.random(m) < 0.03
        )
    cols["DeviceType"] = _none_where(device_type.astype(object), rng.random(m) < 0.02)
    cols["DeviceInfo"] = _none_where(device.astype(object), rng.random(m) < 0.12 * (1 - f))
    return pd.DataFrame({c: cols[c] for c in IDENTITY_COLUMNS})


def write(data: GeneratedData, out_dir: str | Path, fmt: str = "csv") -> dict[str, str]:
    """Write ``train_transaction`` and ``train_identity`` as CSV (Kaggle layout) or Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in (
        ("train_transaction", data.transactions),
        ("train_identity", data.identity),
    ):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if fmt == "csv":
            path = out / f"{name}.csv"
            pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))
        elif fmt == "parquet":
            path = out / f"{name}.parquet"
            pq.write_table(table, path)
        else:
            raise ValueError(f"unknown format {fmt!r} (csv or parquet)")
        paths[name] = str(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vigil.fraud.datagen",
        description="Generate IEEE-CIS-layout transactions with fraud rings.",
    )
    parser.add_argument("--transactions", type=int, default=100_000, help="rows (default 100000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--fraud-rate", type=float, default=0.035, help="default 0.035")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    data = generate(args.transactions, args.seed, fraud_rate=args.fraud_rate)
    paths = write(data, args.out, args.format)
    summary = {
        "transactions": len(data.transactions),
        "identity_rows": len(data.identity),
        "fraud_rate": round(float(data.transactions[LABEL_COLUMN].mean()), 5),
        "rings": int(data.ring_id.max() + 1),
        "seconds": round(time.perf_counter() - start, 2),
        **paths,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
