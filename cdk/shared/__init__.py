"""Constructs every system stack uses: its KMS key, an access-log bucket, secure buckets, Lambda code."""
