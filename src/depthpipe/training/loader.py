"""Feeding prepared HDF5 splits to a model.

Batches are read from ``data/prepared/<split>.h5`` in one sorted slice per batch (large, chunk-aligned reads;
in the encoded layout each frame is decoded and resized once for all keys, in the DataLoader worker), kept as
uint8 until they reach the device, and augmented there (:func:`augment_batch`), so the host does little per
image. Order and augmentation draws are pure functions of (seed, epoch): runs, resumes and ranks agree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from depthpipe.data.prepared.hdf5 import PreparedSplit

TRAIN_KEYS = ("rgb", "target", "mask", "label", "depth")


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic held-out validation part of the train split: (train positions, val positions), sorted.

    ``val_fraction`` in [0, 1): 0 holds nothing out; otherwise at least one frame and at most ``n - 1``.
    """
    g = torch.Generator().manual_seed(int(seed) + 7919)
    perm = torch.randperm(n, generator=g).numpy()
    n_val = int(round(n * val_fraction)) if val_fraction > 0 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 and n > 1 else 0), n - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


class PreparedBatches(Dataset):
    """A map-style dataset over a prepared split whose items are whole batches: ``ds[[i, j, ...]]`` -> tensors.

    ``rgb`` (B,3,H,W) uint8, ``target`` (B,1,h,w) float32, ``mask`` (B,1,h,w) bool, ``label`` (B,h,w) int64,
    ``depth`` (B,1,h,w) float32 metres; ``positions`` selects frames of the split (default: all). The HDF5
    file is opened lazily in each worker process.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        positions: Sequence[int] | np.ndarray | None = None,
        keys: Sequence[str] = TRAIN_KEYS,
    ) -> None:
        self.split = PreparedSplit(path, keys)
        self.info, self.n_total = self.split.info, self.split.n_frames
        self.positions = np.arange(self.n_total) if positions is None else np.asarray(positions, dtype=np.int64)
        self.keys = tuple(keys)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, items: Sequence[int]) -> dict[str, torch.Tensor]:
        pos = self.positions[np.asarray(items, dtype=np.int64)]
        return {k: as_tensor(k, v) for k, v in self.split.read_many(self.keys, pos).items()}


def as_tensor(key: str, array: np.ndarray) -> torch.Tensor:
    """A batch of one prepared dataset as the tensor the models and losses take (see :class:`PreparedBatches`)."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    if key == "rgb":
        return t.permute(0, 3, 1, 2).contiguous()
    if key == "mask":
        return t.bool().unsqueeze(1)
    if key in ("label", "label_full"):
        return t.long()
    return t.unsqueeze(1) if t.ndim == 3 else t


class EpochBatchSampler(Sampler[list[int]]):
    """Shuffled batches of positions for one rank, a pure function of (seed, epoch, rank, world_size).

    Every rank sees ``len // (batch_size * world_size)`` batches (the remainder is dropped when
    ``drop_last``), and together the ranks cover the same global batches a single process would with
    ``batch_size * world_size``.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.shuffle, self.drop_last, self.rank, self.world = shuffle, drop_last, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_batches(self) -> list[np.ndarray]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).numpy()
        else:
            order = np.arange(self.n)
        gb = self.batch_size * self.world
        stop = (self.n // gb) * gb if self.drop_last else self.n
        return [order[i : i + gb] for i in range(0, stop, gb)]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            part = batch[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
            if len(part):
                yield part.tolist()

    def __len__(self) -> int:
        # Batches this rank yields: a last partial global batch (``drop_last=False``) may not reach every rank.
        return sum(1 for b in self.global_batches() if len(b) > self.rank * self.batch_size)


def make_loader(ds: PreparedBatches, sampler: EpochBatchSampler, workers: int, pin_memory: bool) -> DataLoader:
    """A DataLoader yielding whole batches (``batch_size=None``), with persistent, pinned workers if asked."""
    return DataLoader(
        ds,
        sampler=sampler,
        batch_size=None,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )


def augment_batch(batch: dict[str, torch.Tensor], flip: torch.Tensor, perm: torch.Tensor) -> dict[str, torch.Tensor]:
    """Horizontal flip (image, depth, target, mask, labels) and RGB channel swap, on whatever device the batch is.

    ``flip`` (B,) bool: which samples to mirror; ``perm`` (B,3) int64: channel order per sample
    (``[0, 1, 2]`` keeps RGB). Pure: returns a new dict.
    """
    out = dict(batch)
    f = flip.to(batch["rgb"].device)
    for k, v in batch.items():
        if v.ndim >= 3:
            fv = f.view(-1, *([1] * (v.ndim - 1)))
            out[k] = torch.where(fv, v.flip(-1), v)
    p = perm.to(batch["rgb"].device)
    idx = p.view(p.shape[0], 3, 1, 1).expand_as(out["rgb"])
    out["rgb"] = torch.gather(out["rgb"], 1, idx)
    return out


# DenseDepth's augment.py BasicPolicy: RGB inserted before the 6 permutations (in itertools order), so RGB twice
BASIC_POLICY_ORDERS: tuple[tuple[int, int, int], ...] = (
    (0, 1, 2),
    (0, 1, 2),
    (0, 2, 1),
    (1, 0, 2),
    (1, 2, 0),
    (2, 0, 1),
    (2, 1, 0),
)
CHANNEL_ORDERS = ("permutations", "basic_policy")


def random_augment_params(
    batch_size: int,
    generator: torch.Generator,
    hflip_p: float,
    channel_swap_p: float,
    channel_orders: str = "permutations",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw (flip, perm) for :func:`augment_batch` from a CPU generator (deterministic).

    Each sample is mirrored with probability ``hflip_p`` and, with probability ``channel_swap_p``, gets a channel
    order drawn as ``channel_orders`` says (else it keeps RGB):

    - ``permutations``: one of the 6 orders uniformly, RGB included (as DenseDepth's PyTorch port draws it), so
      a fraction ``channel_swap_p * 5/6`` of the samples is swapped;
    - ``basic_policy``: one of the 7 entries of :data:`BASIC_POLICY_ORDERS` uniformly, RGB twice (as DenseDepth's
      Keras augment.py BasicPolicy draws it), so ``channel_swap_p * 5/7`` is swapped (5/14 with its 0.5).

    The draws, in order: one uniform per sample for the flip (when ``hflip_p > 0``), one order per sample (when
    ``channel_swap_p > 0``: ``torch.randperm(3)`` per sample, or one ``torch.randint(7)`` for the batch), then one
    uniform per sample deciding the swap (only when ``0 < channel_swap_p < 1``), so ``hflip_p = 0.5,
    channel_swap_p = 1`` with ``permutations`` draws exactly what the former ``hflip: true, channel_swap: true``
    did, and 0 draws nothing.
    """
    if channel_orders not in CHANNEL_ORDERS:
        raise ValueError(f"channel_orders must be one of {', '.join(CHANNEL_ORDERS)} (got {channel_orders!r})")
    identity = torch.arange(3).repeat(batch_size, 1)
    flip = (
        torch.rand(batch_size, generator=generator) < hflip_p
        if hflip_p > 0
        else torch.zeros(batch_size, dtype=torch.bool)
    )
    if channel_swap_p <= 0:
        return flip, identity
    if channel_orders == "basic_policy":
        entries = torch.tensor(BASIC_POLICY_ORDERS, dtype=torch.int64)
        perm = entries[torch.randint(len(BASIC_POLICY_ORDERS), (batch_size,), generator=generator)]
    else:
        perm = torch.stack([torch.randperm(3, generator=generator) for _ in range(batch_size)])
    if channel_swap_p < 1:
        swap = torch.rand(batch_size, generator=generator) < channel_swap_p
        perm = torch.where(swap.unsqueeze(1), perm, identity)
    return flip, perm
