"""Per-learner rate limits: a token bucket for each key (a learner's id, or a client's address).

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; a request
takes one. An empty bucket answers with the seconds until the next token, which the server
sends back as ``429 Too Many Requests`` with ``Retry-After``.

>>> limits = RateLimiter(rate=2.0, burst=3)
>>> [limits.wait("ada", now=0.0) for _ in range(4)]      # three at once, then wait half a second
[0.0, 0.0, 0.0, 0.5]
>>> limits.wait("ada", now=0.5), limits.wait("bob", now=0.5)
(0.0, 0.0)
"""

from __future__ import annotations

import time


class RateLimiter:
    def __init__(self, rate: float, burst: int, max_keys: int = 100_000):
        if rate <= 0 or burst < 1:
            raise ValueError(f"a rate limit needs rate > 0 and burst >= 1 (got rate={rate}, burst={burst})")
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)

    def wait(self, key: str, now: float | None = None) -> float:
        """0.0 and a token taken if ``key`` may go on now; else the seconds until it may."""
        now = time.monotonic() if now is None else now
        tokens, then = self.buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self.buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self.buckets) >= self.max_keys and key not in self.buckets:
            self._forget_idle(now)
        self.buckets[key] = (tokens - 1.0, now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        """Drop the buckets that have refilled: a missing bucket counts as full, so nothing changes for them."""
        self.buckets = {key: (tokens, then) for key, (tokens, then) in self.buckets.items()
                        if tokens + (now - then) * self.rate < self.burst}
