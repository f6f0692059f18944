"""`import dgl` works on torch 2.13 through the project's shim, and a heterograph trains."""

from __future__ import annotations

import subprocess
import sys

import torch

from vigil.dgl_compat import dgl


def test_plain_import_dgl_works_in_the_venv():
    # A fresh interpreter with no project import: only the .pth hook written by bootstrap helps.
    completed = subprocess.run(
        [sys.executable, "-c", "import dgl, torch; print(dgl.__version__, torch.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("2.1.0 2.13.0")


def test_graphbolt_is_an_explaining_stub_when_its_library_is_missing():
    import dgl.graphbolt as gb

    try:
        gb.ItemSampler  # noqa: B018
    except ImportError as exc:
        assert "graphbolt" in str(exc)
    else:  # a DGL build matching this torch ships the real library; then the real one loads
        assert hasattr(gb, "ItemSampler")


def test_tiny_heterograph_forward_and_backward():
    torch.manual_seed(0)
    graph = dgl.heterograph(
        {
            ("transaction", "uses", "card"): ([0, 1, 2, 3], [0, 0, 1, 1]),
            ("card", "used_by", "transaction"): ([0, 0, 1, 1], [0, 1, 2, 3]),
        }
    )
    conv = dgl.nn.HeteroGraphConv(
        {
            "uses": dgl.nn.GraphConv(4, 2, norm="right", allow_zero_in_degree=True),
            "used_by": dgl.nn.GraphConv(4, 2, norm="right", allow_zero_in_degree=True),
        },
        aggregate="sum",
    )
    features = {"transaction": torch.randn(4, 4), "card": torch.randn(2, 4)}
    out = conv(graph, features)
    assert out["transaction"].shape == (4, 2) and out["card"].shape == (2, 2)
    loss = out["transaction"].pow(2).sum() + out["card"].pow(2).sum()
    loss.backward()
    grads = [p.grad for p in conv.parameters()]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
