"""Which state shard a place belongs to: one hash of its dimension values, in Python and in jq.

The detector's state is partitioned by the dimension values (a place), never by measure: the
cross-measure statistics need every measure of a place in the same engine. A place's shard is a
polynomial hash of its dimension key (the values joined by ``DIM_SEPARATOR``, as
``vigil.air_quality.records`` builds it) modulo the shard count. Firehose computes the same
number with the jq query below to write each shard's readings under its own prefix
(``readings/shard=<k>/...``), so a delivered object normally holds one shard's records. The
detector never trusts the prefix: it recomputes every record's shard, so a record under the wrong
prefix costs an extra shard read, never a wrong state.

Standard library only: the CDK app imports this at synth.
"""

from __future__ import annotations

import json

# a prime below 2**31: h * 31 + codepoint stays below 2**53, exact in jq's double arithmetic
HASH_MODULUS = 2_147_483_647
HASH_MULTIPLIER = 31
DIM_SEPARATOR = "\x1f"  # the same separator records.py joins dimension values with
SHARD_PARTITION_KEY = "shard"  # Firehose's partitionKeyFromQuery name


def shard_of(dimension_key: str, shards: int) -> int:
    """The shard of one dimension key (``"B-101"`` or ``"B-101\\x1fnorth"``)."""
    h = 0
    for char in dimension_key:
        h = (h * HASH_MULTIPLIER + ord(char)) % HASH_MODULUS
    return h % shards


def shard_jq_expression(dimensions: list[str], shards: int) -> str:
    """The jq (JQ-1.6) expression Firehose's metadata extraction evaluates to a record's shard.

    Dimension values are joined as strings (``tostring``: a JSON number ``101`` is ``"101"``,
    as records.py reads it); ``explode`` yields Unicode code points, as ``ord`` does above.
    """
    if not dimensions:
        return '"0"'
    # parenthesised: Firehose (and CDK's jq16) paste it as the value of {"shard": ...}
    fields = ", ".join(f".[{json.dumps(name)}]" for name in dimensions)
    joined = f"[{fields}] | map(tostring) | join({json.dumps(DIM_SEPARATOR)})"
    hashed = (
        f"explode | reduce .[] as $c (0; (. * {HASH_MULTIPLIER} + $c) % {HASH_MODULUS}) % {shards}"
    )
    return f"({joined} | {hashed} | tostring)"


def shard_jq_query(dimensions: list[str], shards: int) -> str:
    """The whole metadata-extraction query: ``{"shard": "<k>"}`` per record."""
    return f"{{{SHARD_PARTITION_KEY}: {shard_jq_expression(dimensions, shards)}}}"
