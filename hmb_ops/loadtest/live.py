"""The run so far, once a second, for thresholds evaluated during the run (--abort-on-fail).

Complete seconds are folded into HDR histograms once each (the whole run and each name), so a
long run costs the same per second as a short one; the server block is rebuilt from the samples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hmb_ops.documents.results import Latency, Server
from hmb_ops.loadtest import histogram


@dataclass
class Block:
    """The fields thresholds read from a summary or endpoint block."""

    requests: int = 0
    failures: int = 0
    seconds: float = 0.0
    hist: Any = field(default_factory=histogram.new)

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def latency_ms(self) -> Latency:
        return Latency(**histogram.latency_ms(self.hist))


class LiveView:
    def __init__(self, sampler=None, server_info: dict | None = None):
        self.sampler = sampler
        self.server_info = server_info or {}
        self.summary = Block()
        self.endpoints: dict[str, Block] = {}
        self.elapsed_s = 0.0
        self.server: Server | None = None
        self._done: set[int] = set()

    def update(self, collected) -> LiveView:
        from hmb_ops.loadtest.results import _requests_in, server_block

        if collected.started_at is None:
            return self
        self.elapsed_s = time.time() - collected.started_at
        last = max(collected.seconds) if collected.seconds else -1
        for idx, sec in collected.seconds.items():
            if idx >= last or idx in self._done:
                continue  # the newest second may still be filling
            self._done.add(idx)
            for name in {*sec.values, *sec.failures}:
                block = self.endpoints.setdefault(name, Block())
                values = sec.values.get(name, ())
                histogram.record_all(block.hist, values)
                histogram.record_all(self.summary.hist, values)
                n, f = _requests_in(sec, name), sum(sec.failures.get(name, {}).values())
                block.requests += n
                block.failures += f
                self.summary.requests += n
                self.summary.failures += f
        span = float(len(self._done))
        self.summary.seconds = span
        for block in self.endpoints.values():
            block.seconds = span
        if self.sampler is not None:
            self.server = server_block(self.server_info, self.sampler, collected.started_at)
        return self
