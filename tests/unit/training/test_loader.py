"""Feeding prepared splits: train/val split, epoch batch order across ranks, augmentation, batched HDF5 reads."""

from __future__ import annotations

import collections
import itertools
import random

import h5py
import numpy as np
import pytest
import torch

from depthpipe.errors import DepthpipeError
from depthpipe.training.loader import (
    EpochBatchSampler,
    PreparedBatches,
    augment_batch,
    make_loader,
    random_augment_params,
    split_train_val,
)


# ---------------------------------------------------------------------------------------- split_train_val
@pytest.mark.parametrize("n,fraction", [(10, 0.1), (37, 0.3), (37, 0.0), (2, 0.5), (100, 0.25)])
def test_split_train_val_deterministic_disjoint_complete(n: int, fraction: float) -> None:
    tr, val = split_train_val(n, fraction, seed=3)
    tr2, val2 = split_train_val(n, fraction, seed=3)
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(val, val2)
    assert not set(tr.tolist()) & set(val.tolist())
    assert sorted([*tr.tolist(), *val.tolist()]) == list(range(n))
    assert list(tr) == sorted(tr) and list(val) == sorted(val)
    assert len(tr) >= 1
    if fraction == 0:
        assert len(val) == 0
    else:
        assert len(val) == max(1, min(round(n * fraction), n - 1))


def test_split_train_val_depends_on_seed() -> None:
    splits = {tuple(split_train_val(100, 0.2, seed)[1].tolist()) for seed in range(4)}
    assert len(splits) == 4


# -------------------------------------------------------------------------------------- EpochBatchSampler
def _epoch(sampler: EpochBatchSampler, epoch: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    return [list(b) for b in sampler]


def test_sampler_is_a_pure_function_of_seed_and_epoch() -> None:
    a = EpochBatchSampler(23, 4, seed=5)
    walked = [_epoch(a, e) for e in range(4)]  # epochs 0..3 in order
    b = EpochBatchSampler(23, 4, seed=5)
    assert _epoch(b, 3) == walked[3]  # straight to epoch 3 (a resume): same batches
    assert _epoch(b, 1) == walked[1]
    assert walked[0] != walked[1]  # reshuffled every epoch
    assert _epoch(EpochBatchSampler(23, 4, seed=6), 3) != walked[3]  # and per seed
    for batches in walked:
        assert len(batches) == len(a) == 23 // 4
        assert all(len(b) == 4 for b in batches)  # drop_last: full batches only
        flat = [i for b in batches for i in b]
        assert len(set(flat)) == len(flat) and all(0 <= i < 23 for i in flat)


@pytest.mark.parametrize("n,batch", [(22, 3), (16, 4), (9, 2)])
def test_two_ranks_partition_the_single_process_global_batches(n: int, batch: int) -> None:
    for epoch in (0, 1, 7):
        single = _epoch(EpochBatchSampler(n, 2 * batch, seed=11), epoch)
        r0 = _epoch(EpochBatchSampler(n, batch, seed=11, rank=0, world_size=2), epoch)
        r1 = _epoch(EpochBatchSampler(n, batch, seed=11, rank=1, world_size=2), epoch)
        assert len(r0) == len(r1) == len(single) == n // (2 * batch)
        for g, a, b in zip(single, r0, r1):
            assert len(a) == len(b) == batch
            assert a + b == g  # rank 0 takes the first half of the global batch, rank 1 the second
            assert not set(a) & set(b)


def test_sampler_without_shuffle_or_drop_last_covers_everything_in_order() -> None:
    s = EpochBatchSampler(10, 4, seed=0, shuffle=False, drop_last=False)
    assert _epoch(s, 5) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(s) == 3
    # two ranks over a partial last global batch: rank 1 has no share of [8, 9] and its length says so
    r0 = EpochBatchSampler(10, 4, seed=0, shuffle=False, drop_last=False, rank=0, world_size=2)
    r1 = EpochBatchSampler(10, 4, seed=0, shuffle=False, drop_last=False, rank=1, world_size=2)
    assert _epoch(r0, 0) == [[0, 1, 2, 3], [8, 9]] and len(r0) == 2
    assert _epoch(r1, 0) == [[4, 5, 6, 7]] and len(r1) == 1


# ---------------------------------------------------------------------------------------------- augment
def _batch(b: int = 4, h: int = 6, w: int = 8) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(b, 1, h // 2, w // 2, generator=g) > 0.3
    depth = torch.rand(b, 1, h // 2, w // 2, generator=g) * 9 + 1
    return {
        "rgb": torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8),
        "target": torch.where(mask, 10.0 / depth, torch.zeros(())),
        "mask": mask,
        "label": torch.randint(0, 41, (b, h // 2, w // 2), generator=g),
        "depth": torch.where(mask, depth, torch.zeros(())),
    }


def test_hflip_is_consistent_across_keys_and_an_involution() -> None:
    batch = _batch()
    before = {k: v.clone() for k, v in batch.items()}
    flip = torch.tensor([True, False, True, False])
    keep = torch.arange(3).repeat(4, 1)
    out = augment_batch(batch, flip, keep)
    for k, v in batch.items():
        assert torch.equal(v, before[k]), f"augment_batch changed its input '{k}'"  # pure
        assert out[k].shape == v.shape and out[k].dtype == v.dtype
        for i in range(4):
            want = v[i].flip(-1) if flip[i] else v[i]
            assert torch.equal(out[k][i], want), k
    # the flipped target/mask/depth/label still describe the flipped image pixel for pixel
    assert torch.equal(out["mask"], out["target"] > 0)
    assert torch.equal(out["mask"], out["depth"] > 0)
    assert torch.allclose(
        torch.where(out["mask"], out["target"] * out["depth"], torch.zeros(())),
        torch.where(out["mask"], torch.full_like(out["depth"], 10.0), torch.zeros(())),
    )
    twice = augment_batch(out, flip, keep)
    for k, v in batch.items():
        assert torch.equal(twice[k], v), k


def test_channel_swap_permutes_rgb_only() -> None:
    batch = _batch()
    perm = torch.tensor([[2, 0, 1], [0, 1, 2], [1, 2, 0], [2, 1, 0]])
    out = augment_batch(batch, torch.zeros(4, dtype=torch.bool), perm)
    for i in range(4):
        for c in range(3):
            assert torch.equal(out["rgb"][i, c], batch["rgb"][i, perm[i, c]])
    # a permutation: per pixel the multiset of channel values is unchanged
    assert torch.equal(out["rgb"].sort(dim=1).values, batch["rgb"].sort(dim=1).values)
    for k in ("target", "mask", "label", "depth"):
        assert torch.equal(out[k], batch[k])
    # undo with the inverse permutation
    inv = perm.argsort(dim=1)
    back = augment_batch(out, torch.zeros(4, dtype=torch.bool), inv)
    assert torch.equal(back["rgb"], batch["rgb"])


def test_flip_and_swap_together() -> None:
    batch = _batch()
    flip = torch.tensor([True, True, False, False])
    perm = torch.tensor([[2, 1, 0], [0, 1, 2], [1, 0, 2], [2, 0, 1]])
    out = augment_batch(batch, flip, perm)
    for i in range(4):
        img = batch["rgb"][i].flip(-1) if flip[i] else batch["rgb"][i]
        assert torch.equal(out["rgb"][i], img[perm[i]])


def test_random_augment_params_deterministic_and_switchable() -> None:
    f1, p1 = random_augment_params(64, torch.Generator().manual_seed(4), 0.5, 1.0)
    f2, p2 = random_augment_params(64, torch.Generator().manual_seed(4), 0.5, 1.0)
    assert torch.equal(f1, f2) and torch.equal(p1, p2)
    assert f1.dtype == torch.bool and 0 < int(f1.sum()) < 64
    assert p1.shape == (64, 3) and torch.equal(p1.sort(dim=1).values, torch.arange(3).repeat(64, 1))
    assert len({tuple(r) for r in p1.tolist()}) > 1
    f, p = random_augment_params(8, torch.Generator().manual_seed(4), 0.0, 0.0)
    assert not f.any() and torch.equal(p, torch.arange(3).repeat(8, 1))


def _former_draws(batch_size: int, generator: torch.Generator, hflip: bool, channel_swap: bool):
    """What random_augment_params drew when augment held the booleans hflip/channel_swap (before issue 12)."""
    flip = torch.rand(batch_size, generator=generator) < 0.5 if hflip else torch.zeros(batch_size, dtype=torch.bool)
    if channel_swap:
        perm = torch.stack([torch.randperm(3, generator=generator) for _ in range(batch_size)])
    else:
        perm = torch.arange(3).repeat(batch_size, 1)
    return flip, perm


@pytest.mark.parametrize(
    "hflip_p, swap_p, hflip, swap",
    [(0.5, 1.0, True, True), (0.0, 1.0, False, True), (0.5, 0.0, True, False), (0.0, 0.0, False, False)],
)
def test_probabilities_reproduce_the_former_booleans_bit_for_bit(hflip_p, swap_p, hflip, swap) -> None:
    """The cpu recipe's hflip_p 0.5 / channel_swap_p 1.0 draws what hflip/channel_swap true drew, generator
    state included (the next draw agrees too), so its trained weights and metrics do not move."""
    for seed in (0, 7919, 123457):
        new_gen, old_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        for batch in (8, 3, 8):
            f_new, p_new = random_augment_params(batch, new_gen, hflip_p, swap_p)
            f_old, p_old = _former_draws(batch, old_gen, hflip, swap)
            assert torch.equal(f_new, f_old) and torch.equal(p_new, p_old)
        assert torch.equal(torch.rand(4, generator=new_gen), torch.rand(4, generator=old_gen))


def test_augment_probabilities_are_what_they_say() -> None:
    f, p = random_augment_params(20000, torch.Generator().manual_seed(1), 0.5, 0.25)
    swapped = (p != torch.arange(3)).any(dim=1).float().mean().item()
    assert abs(f.float().mean().item() - 0.5) < 0.02
    assert abs(swapped - 0.25 * 5 / 6) < 0.015  # 1 of the 6 orders drawn is the identity (DenseDepth's PyTorch port)
    f, p = random_augment_params(64, torch.Generator().manual_seed(1), 1.0, 0.0)
    assert f.all() and torch.equal(p, torch.arange(3).repeat(64, 1))


def test_permutations_is_the_default_draw() -> None:
    """Naming channel_orders=permutations draws exactly what the call without it draws (the cpu recipe's)."""
    for swap_p in (1.0, 0.25):
        a, b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        fa, pa = random_augment_params(32, a, 0.5, swap_p)
        fb, pb = random_augment_params(32, b, 0.5, swap_p, "permutations")
        assert torch.equal(fa, fb) and torch.equal(pa, pb)
        assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))


def _basic_policy_orders(n: int, rng: random.Random, color_change_ratio: float) -> list[tuple[int, ...]]:
    """The channel orders DenseDepth's augment.py BasicPolicy picks for ``n`` images, drawn as its __call__ draws
    them: an index into [RGB] + the 6 permutations, reset to RGB when a uniform is >= the ratio."""
    entries = [(0, 1, 2), *itertools.permutations(range(3), 3)]
    out = []
    for _ in range(n):
        idx = rng.randint(0, len(entries) - 1)
        if rng.uniform(0, 1) >= color_change_ratio:
            idx = 0
        out.append(entries[idx])
    return out


def test_basic_policy_swaps_five_fourteenths_as_densedepth_does() -> None:
    """channel_orders=basic_policy with channel_swap_p 0.5 (the paper recipe) picks each of the 7 entries of
    DenseDepth's BasicPolicy as often as BasicPolicy itself does: RGB 9/14 of the time, every other order 1/14, so
    5/14 = 0.357 of the samples are swapped (not the 0.5 x 5/6 = 0.417 of its PyTorch port, nor 0.25 x 5/6)."""
    n = 60000
    flip, perm = random_augment_params(n, torch.Generator().manual_seed(5), 0.5, 0.5, "basic_policy")
    ours = collections.Counter(tuple(r) for r in perm.tolist())
    theirs = collections.Counter(_basic_policy_orders(n, random.Random(0), 0.5))
    swapped = 1 - ours[(0, 1, 2)] / n
    assert abs(swapped - 5 / 14) < 0.01 and abs(1 - theirs[(0, 1, 2)] / n - 5 / 14) < 0.01
    assert set(ours) == set(theirs) == set(itertools.permutations(range(3), 3))
    for order in itertools.permutations(range(3), 3):
        want = 9 / 14 if order == (0, 1, 2) else 1 / 14
        assert abs(ours[order] / n - want) < 0.006, order
        assert abs(ours[order] - theirs[order]) / n < 0.008, order
    assert abs(flip.float().mean().item() - 0.5) < 0.01  # mirror_ratio 0.5
    _, always = random_augment_params(n, torch.Generator().manual_seed(6), 0.0, 1.0, "basic_policy")
    assert abs((always == torch.arange(3)).all(dim=1).float().mean().item() - 2 / 7) < 0.01  # RGB is 2 of the 7
    a, b = (random_augment_params(64, torch.Generator().manual_seed(9), 0.5, 0.5, "basic_policy") for _ in range(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # seeded: the same draws
    with pytest.raises(ValueError, match="channel_orders must be one of permutations, basic_policy"):
        random_augment_params(4, torch.Generator(), 0.5, 0.5, "seven")


# ------------------------------------------------------------------------------------------ PreparedBatches
def test_prepared_batches_shapes_dtypes_and_order(tiny_data) -> None:
    ds = PreparedBatches(tiny_data.train_h5)
    assert len(ds) == ds.n_total == 12
    idx = [7, 0, 3]  # unsorted on purpose
    b = ds[idx]
    assert b["rgb"].shape == (3, 3, 64, 96) and b["rgb"].dtype == torch.uint8
    assert b["target"].shape == (3, 1, 32, 48) and b["target"].dtype == torch.float32
    assert b["mask"].shape == (3, 1, 32, 48) and b["mask"].dtype == torch.bool
    assert b["label"].shape == (3, 32, 48) and b["label"].dtype == torch.int64
    assert b["depth"].shape == (3, 1, 32, 48) and b["depth"].dtype == torch.float32
    with h5py.File(tiny_data.train_h5, "r") as f:
        for j, i in enumerate(idx):
            np.testing.assert_array_equal(b["rgb"][j].permute(1, 2, 0).numpy(), f["rgb"][i])
            np.testing.assert_array_equal(b["target"][j, 0].numpy(), f["target"][i])
            np.testing.assert_array_equal(b["mask"][j, 0].numpy(), f["mask"][i].astype(bool))
            np.testing.assert_array_equal(b["label"][j].numpy(), f["label"][i])
            np.testing.assert_array_equal(b["depth"][j, 0].numpy(), f["depth"][i])
    assert ds.info.input_size == (64, 96) and ds.info.output_size == (32, 48) and ds.info.split == "train"
    assert ds.info.max_depth == 10.0 and len(ds.info.class_names) == 40 and 0 < ds.info.mean_depth < 10


def test_prepared_batches_positions_subset_and_repeats(tiny_data) -> None:
    full = PreparedBatches(tiny_data.train_h5)
    sub = PreparedBatches(tiny_data.train_h5, positions=[9, 2, 5, 11])
    assert len(sub) == 4
    got = sub[[3, 0, 1]]
    want = full[[11, 9, 2]]
    for k in want:
        assert torch.equal(got[k], want[k]), k
    rep = full[[4, 1, 4]]
    assert torch.equal(rep["rgb"][0], rep["rgb"][2])
    assert torch.equal(rep["rgb"][1], full[[1]]["rgb"][0])


def test_prepared_batches_errors(tmp_path, tiny_data) -> None:
    with pytest.raises(DepthpipeError, match="prepared data not found"):
        PreparedBatches(tmp_path / "missing.h5")
    with pytest.raises(DepthpipeError, match="missing dataset 'depth_full'"):
        PreparedBatches(tiny_data.train_h5, keys=("rgb", "depth_full"))


def test_loader_follows_the_sampler_with_and_without_workers(tiny_data) -> None:
    ds = PreparedBatches(tiny_data.train_h5)
    sampler = EpochBatchSampler(len(ds), 4, seed=2)
    sampler.set_epoch(3)
    expected = list(sampler)
    inline = list(make_loader(ds, sampler, workers=0, pin_memory=False))
    assert len(inline) == len(expected)
    for batch, idx in zip(inline, expected):
        assert torch.equal(batch["rgb"], ds[idx]["rgb"])
    workers = list(make_loader(ds, sampler, workers=1, pin_memory=False))  # the dataset is pickled to a worker
    for a, b in zip(inline, workers):
        for k in a:
            assert torch.equal(a[k], b[k]), k
