"""Cloud cost arithmetic shared by the router's estimates and the ledger's bookkeeping.

RunPod bills worker time per second, rounded up, at the GPU tier's rate, so an image costs
ceil(seconds) x rate rather than a flat price.
"""

from __future__ import annotations

import math


def runpod_billed_seconds(seconds: float) -> int:
    """Whole seconds RunPod bills for `seconds` of worker time (any started second counts)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"worker time must be a finite, non-negative number of seconds, got {seconds!r}")
    # Round away float noise first so that 2.0000000001 s from a ms->s division bills 2 s, not 3.
    return math.ceil(round(seconds, 6))


def cloud_cost_usd(billed_seconds: int, usd_per_second: float) -> float:
    if billed_seconds < 0 or usd_per_second < 0:
        raise ValueError("billed seconds and price must not be negative")
    # Rounded to a micro-dollar so sums in reports do not show float noise.
    return round(billed_seconds * usd_per_second, 6)
