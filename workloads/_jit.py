"""Numba compilation on first use: importing a module that defines a kernel must not import
Numba (0.75 s), so that ``scansim --help`` and ``scansim workloads list`` answer at once."""

from __future__ import annotations

import functools


def njit_on_first_call(**options):
    """``numba.njit(**options)``, applied when the function is first called."""

    def wrap(fn):
        compiled = None

        @functools.wraps(fn)
        def call(*args):
            nonlocal compiled
            if compiled is None:
                from numba import njit

                compiled = njit(**options)(fn)
            return compiled(*args)

        return call

    return wrap
