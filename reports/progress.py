"""Progress on long phases: a tqdm bar on a terminal, a plain line every few seconds otherwise."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Counts ``total`` items of ``unit`` done in phase ``what``; silent unless ``enabled``."""

    def __init__(self, total: int, enabled: bool, what: str = "scansim sweep", unit: str = "point"):
        self.total, self.count, self.last = total, 0, time.monotonic()
        self.what, self.unit, self.enabled = what, unit, enabled
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, desc=what)

    def update(self, n: int = 1) -> None:
        self.count += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and (time.monotonic() - self.last > 5 or self.count == self.total):
            print(f"{self.what}: {self.count}/{self.total} {self.unit}s", file=sys.stderr, flush=True)
            self.last = time.monotonic()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
