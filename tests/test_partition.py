"""Federated partitions: disjoint, covering, deterministic; by-class clients hold their own digits."""
import numpy as np
import pytest

from dpinfogan.partition import client_data, describe, partition_indices

LABELS = np.repeat(np.arange(10), 50)  # 500 samples, 50 per class


@pytest.mark.parametrize("split,k", [("iid", 1), ("iid", 3), ("iid", 7), ("class", 2), ("class", 5), ("class", 10),
                                     ("dirichlet", 2), ("dirichlet", 6)])
def test_parts_are_disjoint_and_cover(split, k):
    parts = partition_indices(LABELS, k, split, alpha=0.3, seed=1)
    assert len(parts) == k and all(len(p) > 0 for p in parts)
    allidx = np.concatenate(parts)
    assert len(allidx) == len(LABELS) == len(np.unique(allidx))  # disjoint and covering
    again = partition_indices(LABELS, k, split, alpha=0.3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))  # a remote client rebuilds its part


def test_class_split_gives_each_client_its_digits():
    parts = partition_indices(LABELS, 5, "class")
    assert [info.classes for info in describe(LABELS, parts)] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert [info.n for info in describe(LABELS, parts)] == [100] * 5


def test_iid_is_balanced_and_dirichlet_is_skewed():
    iid = describe(LABELS, partition_indices(LABELS, 2, "iid", seed=0))
    assert abs(iid[0].n - iid[1].n) <= 1 and len(iid[0].classes) == 10
    skew = describe(LABELS, partition_indices(LABELS, 2, "dirichlet", alpha=0.05, seed=0))
    share = [np.array(s.counts) / 50 for s in skew]
    assert max(np.abs(share[0] - share[1])) > 0.8  # small α: some class sits (almost) all on one client


def test_dirichlet_respects_min_size():
    parts = partition_indices(LABELS, 4, "dirichlet", alpha=0.5, seed=3, min_size=40)
    assert min(len(p) for p in parts) >= 40


@pytest.mark.parametrize("k,split,alpha,match", [
    (0, "iid", 0.5, "at least 1"), (-2, "class", 0.5, "at least 1"), (501, "iid", 0.5, "more clients"),
    (3, "dirichlet", 0.0, "α"), (3, "dirichlet", -1.0, "α"), (11, "class", 0.5, "K ≤ 10"), (2, "shards", 0.5, "split"),
])
def test_bad_input_is_a_plain_error(k, split, alpha, match):
    with pytest.raises(ValueError, match=match):
        partition_indices(LABELS, k, split, alpha=alpha)


def test_client_data_subsets_images_and_labels(digits):
    part = client_data(digits, 1, 5, "class")
    assert len(part) == 800 and set(part.labels.unique().tolist()) == {2, 3}
    assert part.images.shape == (800, 1, 28, 28)
    with pytest.raises(ValueError, match="client index"):
        client_data(digits, 5, 5, "class")
