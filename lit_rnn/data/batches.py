"""Whole batches sliced from in-memory tensors: no per-image work, resumable mid-epoch, one shard per rank."""

import math
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Sampler

Batch = tuple[torch.Tensor, torch.Tensor]


class EpochOrder(Sampler[int]):
    """The order of the examples in one epoch: a function of (seed, epoch) alone, so any epoch can be replayed.

    Lightning calls ``set_epoch`` at the start of every epoch, as it does for a ``DistributedSampler``.
    """

    def __init__(self, size: int, shuffle: bool, seed: int) -> None:
        self.size, self.shuffle, self.seed, self.epoch = size, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.size)
        generator = torch.Generator().manual_seed((self.seed * 6364136223846793005 + self.epoch) % 2**63)
        return torch.randperm(self.size, generator=generator)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.size


class TensorBatches:
    """Iterates ``(images, labels)`` batches: uint8 images scaled to float in [0, 1] as ``ToTensor`` does.

    Each step takes the next ``batch_size * world_size`` examples of the epoch's order and gives rank ``r``
    its ``r``-th part, so every example is seen exactly once per epoch across the ranks and every rank
    has the same number of batches. The tensors may live on the GPU: the batches are then made there.

    The epoch's order is set by ``set_epoch`` on the sampler, and each pass starts at the batch that
    ``start_at()`` names as the pass begins: so a run resumed mid-epoch continues with the very batches
    it would have had, from a position that the loader itself does not keep.
    """

    batch_sampler = None  # Lightning reads ``sampler`` and ``batch_sampler`` as on a DataLoader

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_at: Callable[[], int] = lambda: 0,
    ) -> None:
        self.images, self.labels = images, labels
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.sampler = EpochOrder(len(labels), shuffle, seed)
        self.start_at = start_at

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / (self.batch_size * self.world_size))

    def __iter__(self) -> Iterator[Batch]:
        start = self.start_at()  # asked at the first batch: after Lightning has set the epoch and restored its loops
        order = self.sampler.indices().to(self.labels.device, non_blocking=True)
        step = self.batch_size * self.world_size
        for first in range(start * step, len(order), step):
            index = order[first : first + step].tensor_split(self.world_size)[self.rank]
            yield self.images.index_select(0, index).float().div_(255), self.labels.index_select(0, index)
