"""How many requests the openai backend keeps in flight: an AIMD limit, as TCP and NVIDIA Data Designer do.

A server that pushes back (429, 503, a timeout) gets half as many requests in flight; after as many
successes in a row as the limit, one more, up to the ceiling (teacher.openai.max_in_flight). The
vLLM server has no admission control, and a hosted API's capacity is unknown: a fixed number is
either too many (429 storms, retries burnt) or too few (a fast server idle).

One burst of rejections halves the limit once: only a request sent since the last decrease can
decrease it again, so the 13 answers of 16 requests sent too many at once count as one signal.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("selfinstruct.teachers")


class AdaptiveLimit:
    def __init__(self, ceiling: int, floor: int = 1, adaptive: bool = True, name: str = "teacher"):
        self.ceiling, self.floor, self.adaptive, self.name = ceiling, min(floor, ceiling), adaptive, name
        self.limit = ceiling
        self.in_flight = 0
        self.peak = 0  # the most in flight at once
        self.throttled = 0  # 429s, 503s and timeouts seen
        self.lowest = ceiling  # decreases to a new low are shown to the user; the rest only logged
        self._streak = 0  # successes since the last change
        self._full = False  # the limit was reached since the last change: growing it is then worth it
        self._epoch = 0  # decreases so far
        self._waiters: list[asyncio.Future] = []

    async def acquire(self) -> int:
        """Waits for a free slot; -> the epoch to hand back to `throttled_by` / `succeeded`."""
        while self.in_flight >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                self._wake()  # a wake-up this waiter took must not be lost
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self._full = self._full or self.in_flight >= self.limit
        return self._epoch

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def succeeded(self) -> None:
        self._streak += 1
        if self.adaptive and self._full and self._streak >= self.limit and self.limit < self.ceiling:
            self._set(self.limit + 1, "answers came back")

    def throttled_by(self, epoch: int, why: str) -> None:
        """The server pushed back on a request sent at `epoch`."""
        self.throttled += 1
        self._streak = 0
        if not self.adaptive or epoch != self._epoch:
            return
        self._epoch += 1
        self._set(max(self.floor, self.limit // 2), why)

    def _set(self, limit: int, why: str) -> None:
        old, self.limit = self.limit, limit
        self._streak, self._full = 0, False
        if limit < self.lowest:
            self.lowest = limit
            log.warning("%s: requests in flight %d -> %d (%s)", self.name, old, limit, why)
        elif limit != old:
            log.info("%s: requests in flight %d -> %d (%s)", self.name, old, limit, why)
        self._wake()

    def _wake(self) -> None:
        free = self.limit - self.in_flight
        for waiter in self._waiters:
            if free <= 0:
                break
            if not waiter.done():
                waiter.set_result(None)
                free -= 1
