"""What a worker child process does once, after the fork and before its first task."""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

# Apps register callables here (for instance the serving app's model warm-up); each runs in
# every worker child after the fork, never in the parent.
process_start_hooks: list[Callable[[], None]] = []

# Thread-count setters of the OpenBLAS builds numpy and scipy bundle (their symbol names vary).
OPENBLAS_THREAD_SETTERS = (
    "openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "scipy_openblas_set_num_threads64_",
)


def on_worker_process_start(threads: int) -> None:
    import torch  # first import happens here, after the fork

    torch.set_num_threads(threads)
    try:
        import faiss

        faiss.omp_set_num_threads(threads)
    except ImportError:  # pragma: no cover - faiss is a dependency, but keep workers alive
        logger.warning("faiss is not importable; ANN retrieval is unavailable")
    limit_loaded_openblas_threads(threads)
    for hook in process_start_hooks:
        hook()


def limit_loaded_openblas_threads(threads: int) -> list[str]:
    """Set the thread count of every OpenBLAS library already loaded in this process;
    returns the paths of those set.

    numpy and scipy load their OpenBLAS in the worker parent (task modules import numpy), so
    ``OPENBLAS_NUM_THREADS`` exported after the fork is never read: without this, every
    child ran numpy's matrix products on one thread per CPU, and on a busy host those
    threads contend (a pipeline request cost about 4x the CPU of a single-threaded one).
    Linux only (``/proc/self/maps``); elsewhere nothing is changed.
    """
    limited = []
    for path in loaded_openblas_paths():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in OPENBLAS_THREAD_SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                limited.append(path)
                break
    return limited


def loaded_openblas_paths() -> list[str]:
    """Files of the OpenBLAS libraries loaded in this process (none off Linux)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    files = {line.split()[-1] for line in maps.splitlines() if line.split()[-1].startswith("/")}
    return sorted(path for path in files if "openblas" in Path(path).name)
