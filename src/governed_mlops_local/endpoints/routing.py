"""Which fleet and which production variant serve a request: seeded draws over the current traffic shares."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["TrafficRouter"]


class TrafficRouter:
    """Routes requests by traffic share (blue/green) and variant weight; thread-safe.

    ``seed`` makes the draws repeatable; :meth:`draw` also serves data-capture sampling, so one seed
    fixes both.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - traffic routing, not cryptography
        self._lock = threading.Lock()

    def draw(self) -> float:
        """A uniform number in [0, 1)."""
        with self._lock:
            return self._rng.random()

    def fleet(self, state: Mapping[str, Any]) -> str:
        """The fleet (endpoint config) that serves this request: green with its current traffic share, else blue."""
        deployment = state.get("Deployment") or {}
        share = float(deployment.get("GreenTraffic", 0.0))
        if share > 0 and (share >= 1.0 or self.draw() < share):
            return str(deployment["EndpointConfigName"])
        return str(state["EndpointConfigName"])

    def variant(self, config: Mapping[str, Any]) -> Mapping[str, Any]:
        """The production variant of endpoint config ``config`` that serves this request, by InitialVariantWeight."""
        variants = config["ProductionVariants"]
        if len(variants) == 1:
            return variants[0]  # type: ignore[no-any-return]
        weights = [float(v.get("InitialVariantWeight", 1.0)) for v in variants]
        point = self.draw() * sum(weights)
        for variant, weight in zip(variants, weights, strict=True):
            point -= weight
            if point < 0:
                return variant  # type: ignore[no-any-return]
        return variants[-1]  # type: ignore[no-any-return]
