"""Training the fraud RGCN with several processes: PyTorch DistributedDataParallel over
neighbour-sampled mini-batches, each worker sampling its share of the training targets.

Where the workers come from (:func:`workers_from`):

* ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT`` already set (a worker this module
  started, or ``torchrun``): that worker;
* SageMaker with several hosts (``trainingInstanceCount`` > 1): ``SM_HOSTS`` and
  ``SM_CURRENT_HOST`` (the resource config) give one worker per host, rank = the host's place in
  the sorted host list, the first host the rendezvous;
* ``train.py --workers N`` on one machine: N local processes on 127.0.0.1
  (:func:`spawn_local`).

Every worker loads the whole graph (the channel is fully replicated) and builds the same model
from the same seed; DDP averages the gradients of each step over the workers, so a step sees
``workers × batch-size`` targets and the workers' weights stay identical (the same updates as one
process with that batch, in expectation). Each epoch the training targets are shuffled with the
epoch's seed and dealt out in equal shares (a short share is topped up from the start of the
permutation), so every worker runs the same number of steps. Validation runs on rank 0 and its
score is broadcast, so all workers stop at the same epoch; rank 0 alone writes the model artefact.
Backend: gloo (the trainer runs on CPU).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

SAGEMAKER_MASTER_PORT = 29500
DEFAULT_BATCH_SIZE = 1024  # targets per worker and step when --batch-size is 0 (full-batch)


@dataclass(frozen=True)
class Workers:
    world_size: int
    rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 0
    spawn_locally: bool = False  # this process starts the workers and does not train itself

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def workers_from(requested: int, environ: Mapping[str, str] | None = None) -> Workers:
    """The workers this process belongs to (see the module docstring)."""
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return Workers(
            world_size=int(env["WORLD_SIZE"]),
            rank=int(env["RANK"]),
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=int(env.get("MASTER_PORT", SAGEMAKER_MASTER_PORT)),
        )
    hosts = sorted(json.loads(env.get("SM_HOSTS", "[]")))
    if len(hosts) > 1:
        return Workers(
            world_size=len(hosts),
            rank=hosts.index(env["SM_CURRENT_HOST"]),
            master_addr=hosts[0],
            master_port=SAGEMAKER_MASTER_PORT,
        )
    if requested > 1:
        return Workers(world_size=requested, master_port=free_port(), spawn_locally=True)
    return Workers(world_size=1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn_local(workers: Workers, main: Callable, *args, **kwargs) -> int:
    """Run ``main(*args, **kwargs)`` in ``workers.world_size`` local processes; 0 when all
    succeed (a failing worker fails the run)."""
    import torch.multiprocessing as mp

    mp.spawn(
        _local_worker,
        args=(workers.world_size, workers.master_port, main, args, kwargs),
        nprocs=workers.world_size,
        join=True,
    )
    return 0


def _local_worker(rank, world_size, port, main, args, kwargs) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(world_size),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    code = main(*args, **kwargs)
    if code:
        raise SystemExit(code)


def init(workers: Workers) -> None:
    """Join the process group (nothing to do for one worker)."""
    if workers.world_size <= 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://{workers.master_addr}:{workers.master_port}",
            rank=workers.rank,
            world_size=workers.world_size,
        )


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return world()[0] == 0


def epoch_share(targets: np.ndarray, epoch: int, seed: int, rank: int, size: int) -> np.ndarray:
    """This worker's targets for ``epoch``: the epoch's permutation (the same on every worker),
    dealt out in ``size`` equal shares (the last topped up from the start)."""
    order = targets[np.random.default_rng([seed, epoch]).permutation(len(targets))]
    per_worker = -(-len(order) // size)
    padded = np.resize(order, per_worker * size)  # repeats from the start to fill
    return padded[rank * per_worker : (rank + 1) * per_worker]


def broadcast_float(value: float) -> float:
    """Rank 0's ``value`` on every worker (as is outside a process group)."""
    rank, size = world()
    if size == 1:
        return value
    import torch
    import torch.distributed as dist

    box = torch.tensor([value if rank == 0 else 0.0], dtype=torch.float64)
    dist.broadcast(box, src=0)
    return float(box[0])


def mean_over_workers(value: float) -> float:
    size = world()[1]
    if size == 1:
        return value
    import torch
    import torch.distributed as dist

    box = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(box)
    return float(box[0]) / size


def block_module(model):
    """``model.forward_blocks`` as a module's ``forward``, wrapped in DDP: the gradients of each
    step are averaged over the workers. Parameters a step does not reach (the last layer's
    messages into entities, entity types absent from a sample) are allowed."""
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    class BlockForward(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, blocks, features):
            return self.inner.forward_blocks(blocks, features)

    return DistributedDataParallel(BlockForward(model), find_unused_parameters=True)
