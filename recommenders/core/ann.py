"""Approximate nearest-neighbour retrieval over item embeddings (FAISS, inner product).

The index kind is chosen by catalogue size and then measured:

- ``flat``: exact search (``IndexFlatIP``), for catalogues up to ``flat_max_items``;
- ``ivf``: an inverted file (``IndexIVFFlat``, Jegou et al. 2011, "Product quantization for
  nearest neighbor search"): k-means into ``nlist ~ sqrt(n)`` cells, a query scans the
  ``nprobe`` closest cells;
- ``hnsw``: a hierarchical navigable small-world graph (``IndexHNSWFlat``, Malkov &
  Yashunin 2018, "Efficient and robust approximate nearest neighbor search using
  Hierarchical Navigable Small World graphs", TPAMI), greedy search with beam ``efSearch``.

The build computes recall@100 against exact search on sampled queries,

    recall@100 = mean_q |ANN_100(q) ∩ exact_100(q)| / 100,

raising ``nprobe`` / ``efSearch`` until it reaches ``target_recall`` (0.95) and falling back
to exact search when no setting does; the recall reached, the kind and its parameters are
recorded and saved with the index. faiss is imported inside functions only (fork safety).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RECALL_K = 100
IVF_NPROBES = (8, 16, 32, 64, 128, 256)
HNSW_EF_SEARCH = (64, 128, 256, 512, 1024)


def _faiss():
    import faiss

    return faiss


def sample_queries(vectors: np.ndarray, n_queries: int, seed: int) -> np.ndarray:
    """Queries near the data: sampled vectors plus isotropic noise, renormalised."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(vectors), size=min(n_queries, len(vectors)), replace=False)
    noise = rng.normal(0.0, 0.3 / np.sqrt(vectors.shape[1]), (len(rows), vectors.shape[1]))
    noisy = vectors[rows] + noise
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean overlap |approx_q ∩ exact_q| / k over queries (rows; -1 = no result)."""
    hits = [len(np.intersect1d(a[a >= 0], e[e >= 0])) for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits) / exact.shape[1])


@dataclass
class AnnIndex:
    """A FAISS inner-product index with the recall it was measured to keep."""

    kind: str
    index: Any
    dim: int
    recall_at_100: float = 1.0
    settings: dict[str, Any] = field(default_factory=dict)
    build_seconds: float = 0.0

    @property
    def n_items(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        kind: str = "auto",
        queries: np.ndarray | None = None,
        flat_max_items: int = 50_000,
        target_recall: float = 0.95,
        n_queries: int = 256,
        seed: int = 0,
    ) -> AnnIndex:
        """Build and measure an index over ``vectors`` (n x d, float32, unit norm).

        ``kind`` is ``auto`` (flat up to ``flat_max_items``, else ivf), ``flat``, ``ivf`` or
        ``hnsw``. ``queries`` (e.g. real user vectors) are used for the recall measurement
        when given, else queries are sampled near the data.
        """
        started = time.perf_counter()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if kind == "auto":
            kind = "flat" if len(vectors) <= flat_max_items else "ivf"
        if kind == "flat" or len(vectors) <= RECALL_K:
            built = cls("flat", _flat(vectors), vectors.shape[1])
        else:
            if queries is None:
                queries = sample_queries(vectors, n_queries, seed)
            built = cls._build_approximate(vectors, kind, queries, target_recall, seed)
        built.build_seconds = time.perf_counter() - started
        return built

    @classmethod
    def _build_approximate(cls, vectors, kind, queries, target_recall, seed) -> AnnIndex:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        _, exact = _flat(vectors).search(queries, RECALL_K)
        if kind == "ivf":
            index, knob, values = _ivf(vectors, seed), "nprobe", IVF_NPROBES
        elif kind == "hnsw":
            index, knob, values = _hnsw(vectors), "efSearch", HNSW_EF_SEARCH
        else:
            raise ValueError(f"unknown ANN index kind {kind!r}: use auto, flat, ivf or hnsw")
        tried: dict[str, float] = {}
        for value in values:
            if kind == "ivf":
                index.nprobe = min(value, index.nlist)
            else:
                index.hnsw.efSearch = value
            _, approx = index.search(queries, RECALL_K)
            recall = recall_at_k(approx, exact)
            tried[str(value)] = round(recall, 4)
            if recall >= target_recall:
                settings = {knob: value, "tried": tried, "target_recall": target_recall}
                if kind == "ivf":
                    settings["nlist"] = int(index.nlist)
                return cls(kind, index, vectors.shape[1], recall, settings)
        settings = {"refused": kind, "tried": tried, "target_recall": target_recall}
        return cls("flat", _flat(vectors), vectors.shape[1], 1.0, settings)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and item indices (n_queries x k, best first; -1 where fewer exist)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k_eff = min(k, self.n_items)
        scores, ids = self.index.search(queries, k_eff)
        return scores, ids.astype(np.int64)

    def search_excluding(self, query: np.ndarray, k: int, exclude: np.ndarray):
        """Top-k of one query with the ``exclude`` indices removed (asks for k + |exclude|)."""
        exclude = np.asarray(exclude, dtype=np.int64)
        scores, ids = self.search(query, k + len(exclude))
        scores, ids = scores[0], ids[0]
        keep = (ids >= 0) & ~np.isin(ids, exclude)
        return scores[keep][:k], ids[keep][:k]

    def add(self, vectors: np.ndarray) -> None:
        """Append items (new item indices continue after the current ones)."""
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _faiss().write_index(self.index, str(folder / "ann.faiss"))
        meta = {
            "kind": self.kind,
            "dim": self.dim,
            "recall_at_100": self.recall_at_100,
            "settings": self.settings,
            "build_seconds": self.build_seconds,
        }
        (folder / "ann.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> AnnIndex:
        folder = Path(folder)
        meta = json.loads((folder / "ann.json").read_text())
        index = _faiss().read_index(str(folder / "ann.faiss"))
        if meta["kind"] == "ivf":
            index.nprobe = int(meta["settings"]["nprobe"])
        elif meta["kind"] == "hnsw":
            index.hnsw.efSearch = int(meta["settings"]["efSearch"])
        return cls(
            meta["kind"],
            index,
            int(meta["dim"]),
            float(meta["recall_at_100"]),
            meta["settings"],
            float(meta["build_seconds"]),
        )


def _flat(vectors: np.ndarray) -> Any:
    index = _faiss().IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def _ivf(vectors: np.ndarray, seed: int) -> Any:
    faiss = _faiss()
    n, dim = vectors.shape
    nlist = int(max(16, min(4096, round(np.sqrt(n)))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(n, size=min(n, 40 * nlist), replace=False)]
    index.train(sample)
    index.add(vectors)
    index.__dict__["quantizer_ref"] = quantizer  # keep the quantizer alive with the index
    return index


def _hnsw(vectors: np.ndarray, m: int = 32, ef_construction: int = 80) -> Any:
    faiss = _faiss()
    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(vectors)
    return index
