"""The Ray executor: identical walks, runs through Ray, and token authentication.

One local Ray (2 CPUs, token auth, no dashboard, ports from the 26379-26999 range) is
started once for the module and stopped after it. Skipped when Ray is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray")

from recsys_core import cluster
from recsys_core.cluster import shards
from recsys_core.cluster import walks as ray_walks
from recsys_core.graph import build_graph
from recsys_core.walks import WalkSettings, generate_walks
from recsys_core.walks.digest import walks_digest


def random_graph(n: int = 300, pairs: int = 1500, seed: int = 3):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, pairs)
    b = rng.integers(0, n, pairs)
    keep = a != b
    w = rng.uniform(0.5, 5.0, keep.sum()).astype(np.float32)
    return build_graph(n + 5, a[keep], b[keep], w)  # 5 isolated products: no walks


GRAPH = random_graph()
FIRST = WalkSettings(walks_per_node=3, length=8, seed=11)
NODE2VEC = WalkSettings(walks_per_node=2, length=8, p=0.5, q=2.0, seed=5)


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray with 2 CPUs for the whole module; stopped after its last test."""
    ray = cluster.connect("local", num_cpus=2)
    yield ray
    cluster.shutdown()


@pytest.mark.parametrize("settings", [FIRST, NODE2VEC], ids=["first-order", "node2vec"])
@pytest.mark.parametrize("parts", [1, 3, 7])
def test_row_blocks_equal_single_machine_walks(settings, parts):
    """Without Ray: any split of the rows, walked block by block, is the same walks."""
    expected = generate_walks(GRAPH, settings)
    arrays = ray_walks.graph_arrays(GRAPH, settings)
    ranges = ray_walks.row_ranges(expected.shape[0], parts)
    got = np.concatenate([ray_walks.walk_rows(arrays, settings, lo, hi) for lo, hi in ranges])
    np.testing.assert_array_equal(got, expected)
    assert walks_digest(got) == walks_digest(expected)


def test_digest_same_for_parts_and_whole_and_differs_otherwise():
    walks = generate_walks(GRAPH, FIRST)
    parts = np.array_split(walks, 4)
    assert walks_digest(parts, n_rows=walks.shape[0]) == walks_digest(walks)
    other = generate_walks(GRAPH, FIRST.replace(seed=12))
    assert walks_digest(other) != walks_digest(walks)


@pytest.mark.parametrize("settings", [FIRST, NODE2VEC], ids=["first-order", "node2vec"])
def test_walks_on_ray_identical_for_any_worker_count(ray_local, settings):
    expected = generate_walks(GRAPH, settings)
    for n_tasks in (1, 2, 5):
        got = ray_walks.walks_on_ray(GRAPH, settings, n_tasks=n_tasks)
        np.testing.assert_array_equal(got, expected)


def test_walk_shards_written_by_workers_load_as_the_same_walks(ray_local, tmp_path):
    expected = generate_walks(GRAPH, NODE2VEC)
    rows, length = ray_walks.write_walk_shards(GRAPH, NODE2VEC, tmp_path, n_tasks=3)
    assert (rows, length) == expected.shape
    assert len(list((tmp_path / shards.SHARD_DIR).glob("part-*.npy"))) == 3
    np.testing.assert_array_equal(shards.load_walks(tmp_path), expected)
    arrays, n_rows, _ = shards.shard_arrays(tmp_path)
    assert walks_digest(arrays, n_rows=n_rows) == walks_digest(expected)
