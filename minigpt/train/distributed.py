"""Data-parallel training under ``torchrun``: one process per device, gradients averaged.

``torchrun --nproc_per_node N -m minigpt.train RECIPE`` starts N copies of the same program with
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in their environment. Each copy builds the same model
(same seed), draws its own rows of the global batch, and DistributedDataParallel averages the
gradients across processes during ``backward()``, so every copy takes the same optimizer step
as one process would on the whole global batch. Only rank 0 logs, evaluates and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """Rank, world size and local rank from torchrun's environment variables (single process if unset)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun (NCCL on CUDA, gloo otherwise).

    On CUDA each process takes the GPU ``cuda:LOCAL_RANK``. Returns the rank info and the device.
    """
    info = env_info()
    if not info.enabled:
        return info, device
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device


def wrap(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """The model wrapped in DistributedDataParallel when there are several processes, else itself."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def shard(batch, info: DistInfo):
    """This process's rows of a global batch (a tensor, or a tuple/list of tensors sharing dim 0)."""
    if not info.enabled:
        return batch
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(b, info) for b in batch)
    n = batch.shape[0]
    if n % info.world_size:
        raise ValueError(f"the global batch of {n} rows does not split evenly over {info.world_size} processes")
    per = n // info.world_size
    return batch[info.rank * per:(info.rank + 1) * per]


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def teardown(info: DistInfo) -> None:
    """Wait for every process, then leave the process group."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
