"""The garbage collector, tuned for a server process.

Python's defaults (a young collection every 700 new objects, a full one every 100 young ones
once long-lived objects grew by a quarter) suit a short script, not a gateway holding hundreds
of requests in flight: each request's objects live long enough (a provider answering in 1.5 s)
to be promoted, so full collections of a million objects ran every two seconds, 0.7 s each
(measured at Bifrost's 500 requests/s: 45% of the worker's time was the collector's).

At startup, what the process loaded (settings, the URL map, models, the catalogue) is frozen
out of every collection, and collections are made rarer by GC_THRESHOLDS. Cycles are still
collected, so memory stays bounded; they are collected in larger, fewer passes.

The young threshold counts allocations minus deallocations, and the deaths of older objects
count too: with hundreds of requests in flight the count creeps, and when it reaches the
threshold the young generation holds every object made since the last pass that is still
alive (~135,000 at Bifrost's 500 requests/s, a 60-110 ms pause). At 20000 that happened a few
times a minute, each pause a step in the p99; at 50000 the creep does not reach it in a
steady run (no young pass above 20 ms in 90 s), and the memory held for cycles is a few MB."""

from __future__ import annotations

import gc
import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def tune_for_serving() -> None:
    """Freezes what is loaded so far and sets the thresholds (once per server process, when
    it is ready to serve)."""
    thresholds = settings.GC_THRESHOLDS
    if not thresholds:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    logger.info("gc: %s objects frozen, thresholds %s", gc.get_freeze_count(), thresholds)
