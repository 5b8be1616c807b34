"""Per-process feeder state: CSV rows (round robin or random), sequences, random choices.

Each draw returns the names it sets (`accounts.email`, `item_id`), so one draw serves every
reference to that feeder in a request (or, for per-user feeders, in a user's whole life).
"""

from __future__ import annotations

import itertools
import random
from typing import Any


class CsvFeeder:
    def __init__(self, name: str, rows: list[dict[str, str]], order: str, offset: int = 0):
        self.rows = [{f"{name}.{k}": v for k, v in row.items()} for row in rows]
        self.random = order == "random"
        self.counter = itertools.count(offset)

    def draw(self) -> dict[str, Any]:
        if self.random:
            return random.choice(self.rows)
        return self.rows[next(self.counter) % len(self.rows)]


class SequenceFeeder:
    def __init__(self, name: str, start: int, stop: int, step: int, offset: int = 0):
        self.name = name
        self.values = range(start, stop + (1 if step > 0 else -1), step)
        self.counter = itertools.count(offset)

    def draw(self) -> dict[str, Any]:
        return {self.name: self.values[next(self.counter) % len(self.values)]}


class ChoiceFeeder:
    def __init__(self, name: str, values: list[Any]):
        self.name, self.values = name, values

    def draw(self) -> dict[str, Any]:
        return {self.name: random.choice(self.values)}
