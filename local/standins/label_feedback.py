"""The fraud label API's S3 label log on moto server, and labels sent the way a bank sends them.

``with local_label_log() as bucket:`` starts moto server, creates the bucket the label Lambda
appends to and points only S3 at it (``AWS_ENDPOINT_URL_S3``, ``LABEL_BUCKET``; the graph
endpoint is the scoring path's ``GRAPH_ENDPOINT``), restoring the environment and stopping the
server by PID on exit. :func:`send_chargebacks` posts ``POST /transactions/{id}/label`` for the
frauds among streamed rows, as chargebacks arriving after the fact would. Used by the fraud demo.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from local.standins.moto_server import running_moto_server

LABEL_BUCKET = "vigil-fraud-processed"


@contextlib.contextmanager
def local_label_log(bucket: str = LABEL_BUCKET) -> Iterator[str]:
    with running_moto_server() as moto:
        environment = {"AWS_ENDPOINT_URL_S3": moto.endpoint_url, "LABEL_BUCKET": bucket}
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        from vigil import aws

        aws.reset_clients()
        try:
            aws.client("s3").create_bucket(Bucket=bucket)
            yield bucket
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            aws.reset_clients()


def send_chargebacks(
    connection: http.client.HTTPConnection,
    rows: Iterable[Mapping[str, Any]],
    after_each: Callable[[], None] | None = None,
) -> dict[str, int]:
    """A chargeback (``fraud``) for each fraud among ``rows``, each sent twice (a retry must
    change nothing); the answers counted as ``"<status> <result>"``. ``after_each`` runs after
    every answer (the demo drops the handler's buffered metrics there)."""
    from vigil.fraud import schema

    answers: Counter = Counter()
    for row in rows:
        if int(row[schema.LABEL_COLUMN]) != 1:
            continue
        path = f"/transactions/{int(row[schema.ID_COLUMN])}/label"
        for _ in range(2):
            connection.request(
                "POST",
                path,
                body=json.dumps({"label": "fraud", "source": "chargeback"}),
                headers={"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            answer = json.loads(response.read())
            answers[f"{response.status} {answer.get('result', answer.get('message'))}"] += 1
            if after_each is not None:
                after_each()
    return dict(sorted(answers.items()))


def logged_labels(bucket: str = LABEL_BUCKET) -> int:
    """How many label changes the log holds."""
    from vigil import aws
    from vigil.fraud.label_log import LABEL_LOG_PREFIX

    pages = aws.client("s3").get_paginator("list_objects_v2")
    return sum(
        len(page.get("Contents", []))
        for page in pages.paginate(Bucket=bucket, Prefix=LABEL_LOG_PREFIX)
    )
