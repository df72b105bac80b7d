"""What a worker child process does once, after the fork and before its first task."""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Apps register callables here (for instance the serving app's model warm-up); each runs in
# every worker child after the fork, never in the parent.
process_start_hooks: list[Callable[[], None]] = []


def on_worker_process_start(threads: int) -> None:
    import torch  # first import happens here, after the fork

    torch.set_num_threads(threads)
    try:
        import faiss

        faiss.omp_set_num_threads(threads)
    except ImportError:  # pragma: no cover - faiss is a dependency, but keep workers alive
        logger.warning("faiss is not importable; ANN retrieval is unavailable")
    for hook in process_start_hooks:
        hook()
