"""A per-action, per-app token bucket (ZEGO allows 10 requests/s per action and app)."""

from __future__ import annotations

import time


class RateLimiter:
    """`allow(app_id, action)` is False when that pair has spent its budget for now."""

    def __init__(self, per_second: float) -> None:
        self.rate = per_second
        self.burst = max(1.0, per_second)
        self._buckets: dict[tuple[int, str], tuple[float, float]] = {}

    def allow(self, app_id: int, action: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        key = (app_id, action)
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        return True
