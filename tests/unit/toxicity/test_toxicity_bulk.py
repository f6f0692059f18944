"""Bulk moderation: the JSON lines wire format of both inference entry points (one result or one
rejection per row, in order) and the local CLI that runs a file through a trained model's own
``code/inference.py``, as Batch Transform does."""

from __future__ import annotations

import json

import pytest

from vigil.serving_errors import BadRequest
from vigil.toxicity import batch
from vigil.toxicity.labels import JIGSAW_LABELS
from vigil.toxicity.serving import (
    JSON_LINES,
    BulkRequest,
    parse_bulk_request,
    parse_input,
    render_response,
)


def test_each_bad_row_is_rejected_with_its_reason_and_keeps_its_place():
    lines = [
        json.dumps({"id": "a", "text": "you are lovely"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"id": "d"}),
        json.dumps({"id": "e", "text": None}),
        json.dumps({"id": "f", "text": "   "}),
        json.dumps({"id": "g", "text": "x" * 5001}),
        json.dumps({"id": True, "text": "fine"}),
        "",
        json.dumps({"text": "no id is fine"}),
    ]
    body = ("\n".join(lines) + "\n").encode() + b"\xff\xfe\n"
    request = parse_bulk_request(body)
    reasons = [row.reason for row in request.rows]
    assert reasons[0] is None and reasons[9] is None
    expected = {
        1: "not valid JSON",
        2: "JSON list, not an object",
        3: "has no 'text'",
        4: "'text' is null",
        5: "'text' is empty",
        6: "5001 characters",
        7: "'id' must be",
        8: "blank",
        10: "not UTF-8",
    }
    for position, fragment in expected.items():
        assert fragment in reasons[position], (position, reasons[position])
    assert len(request.rows) == 11  # the final newline ends the last line, adds no row
    assert request.texts == ["you are lovely", "no id is fine"]
    assert [row.id for row in request.rows[:4]] == ["a", None, None, "d"]


def test_a_bulk_body_without_rows_or_with_too_many_is_a_4xx():
    with pytest.raises(BadRequest, match="no rows") as caught:
        parse_bulk_request(b"\n")
    assert caught.value.status_code == 400
    body = "\n".join(json.dumps({"text": "hi"}) for _ in range(4))
    with pytest.raises(BadRequest, match="at most 3") as caught:
        parse_bulk_request(body, max_rows=3)
    assert caught.value.status_code == 413


def test_the_content_type_chooses_the_wire_format():
    assert isinstance(parse_input(b'{"text": "hi"}\n', "application/jsonlines"), BulkRequest)
    assert parse_input(b'{"inputs": ["hi"]}', "application/json") == ["hi"]
    with pytest.raises(BadRequest) as caught:
        render_response([{"id": 1, "rejected": "x"}], "application/json")
    assert caught.value.status_code == 406


@pytest.fixture(scope="module")
def comments(tmp_path_factory):
    """A CSV and the same rows as JSON lines: 3 good comments, 2 bad ones."""
    folder = tmp_path_factory.mktemp("bulk")
    rows = [
        ("c1", "you are an idiot and I hate you"),
        ("c2", "thanks for the helpful edit"),
        ("c3", ""),
        ("c4", "a" * 5001),
        ("c5", "what a lovely day"),
    ]
    csv_path = folder / "comments.csv"
    csv_path.write_text(
        "id,comment_text\n" + "".join(f'{row_id},"{text}"\n' for row_id, text in rows)
    )
    jsonl_path = folder / "comments.jsonl"
    jsonl_path.write_text(
        "".join(json.dumps({"id": row_id, "text": text}) + "\n" for row_id, text in rows)
    )
    return folder, csv_path, jsonl_path


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
@pytest.mark.parametrize("file", ["csv", "jsonl"])
def test_the_cli_scores_good_rows_and_rejects_bad_ones_as_the_endpoint_would(
    kind, file, comments, request, capsys
):
    out, _ = request.getfixturevalue(f"tiny_{kind}")
    folder, csv_path, jsonl_path = comments
    scored, rejected = folder / f"{kind}-{file}.jsonl", folder / f"{kind}-{file}-rejects.jsonl"
    code = batch.main(
        [
            str(csv_path if file == "csv" else jsonl_path),
            f"--model-dir={out / 'model'}",
            f"--output={scored}",
            f"--rejects={rejected}",
            "--text-column=comment_text",
            "--max-payload-mb=0.0002",  # 200 bytes: several mini-batches
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == 5 and summary["scored"] == 3 and summary["rejected"] == 2
    results = [json.loads(line) for line in scored.read_text().splitlines()]
    rejects = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(r["line"], r["id"]) for r in results] == [(1, "c1"), (2, "c2"), (5, "c5")]
    assert [(r["line"], r["id"]) for r in rejects] == [(3, "c3"), (4, "c4")]
    assert "empty" in rejects[0]["reason"] and "5001 characters" in rejects[1]["reason"]
    # the same probabilities as the endpoint's JSON path gives for those texts
    handler = batch.load_entry_point(out / "model")
    bundle = handler.model_fn(str(out / "model"))
    texts = ["you are an idiot and I hate you", "thanks for the helpful edit", "what a lovely day"]
    answer = json.loads(
        handler.output_fn(
            handler.predict_fn(
                handler.input_fn(json.dumps({"inputs": texts}), "application/json"), bundle
            ),
            "application/json",
        )
    )
    # a transform job's .out file (the model's answers in input order) splits the same way
    transform_out = folder / f"{kind}-{file}.out"
    transform_out.write_text(
        handler.output_fn(
            handler.predict_fn(handler.input_fn(jsonl_path.read_bytes(), JSON_LINES), bundle),
            JSON_LINES,
        )
    )
    split_scored, split_rejected = folder / "split.jsonl", folder / "split-rejects.jsonl"
    args = [f"--output={split_scored}", f"--rejects={split_rejected}", "--transform-output"]
    assert batch.main([str(transform_out), *args]) == 0
    assert [json.loads(x)["id"] for x in split_scored.read_text().splitlines()] == [
        "c1",
        "c2",
        "c5",
    ]
    assert split_rejected.read_text().splitlines() == rejected.read_text().splitlines()
    for result, expected in zip(results, answer["results"], strict=True):
        assert set(result["probabilities"]) == set(JIGSAW_LABELS)
        for label in JIGSAW_LABELS:
            assert result["probabilities"][label] == pytest.approx(
                expected["probabilities"][label], abs=1e-5
            )
        assert result["flagged"] == any(result["flags"].values())


def test_the_cli_names_a_missing_text_column(comments, tiny_bilstm, tmp_path, capsys):
    out, _ = tiny_bilstm
    _, csv_path, _ = comments
    code = batch.main(
        [
            str(csv_path),
            f"--model-dir={out / 'model'}",
            f"--output={tmp_path / 'o.jsonl'}",
            f"--rejects={tmp_path / 'r.jsonl'}",
            "--text-column=body",
        ]
    )
    assert code == 2
    assert "no 'body' column" in capsys.readouterr().err


def test_bulk_answers_render_one_line_per_row():
    rows = [{"id": 1, "rejected": "bad"}, {"id": 2, "probabilities": {}, "flagged": False}]
    text = render_response(rows, JSON_LINES)
    assert [json.loads(line) for line in text.splitlines()] == rows
