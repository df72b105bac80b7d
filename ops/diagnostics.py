"""Diagnostic tasks: prove that a worker process answers, and that torch works in it."""

from __future__ import annotations

import os

from celery import shared_task


@shared_task(name="splitlab.diagnostics.torch_check")
def torch_check(size: int = 64) -> dict:
    """Multiply two seeded random matrices with torch in the worker; report where it ran."""
    import torch  # imported in the task, after the fork (DESIGN.md: fork safety)

    generator = torch.Generator().manual_seed(0)
    a = torch.rand(size, size, generator=generator)
    product = a @ a.T
    return {
        "pid": os.getpid(),
        "trace": round(float(product.trace()), 4),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
