# SPDX-License-Identifier: Apache-2.0
"""One control step per period, for nodes that step on the arrival of a sensor stream."""

import math


class StepGate:
    """Let a step through when at least half a ``period_s`` [s] has passed since the last.

    Half a period, not a whole one: the node's clock (from ``/clock``, 100 Hz) reads an
    arrival up to a tick early or late, and a step skipped for reading 10 ms after the last
    one would wait a whole period more. A clock that goes back (a simulator reset) lets the
    next step through.
    """

    def __init__(self, period_s: float) -> None:
        if not period_s > 0.0:
            raise ValueError(f'period {period_s!r} s: must be positive')
        self.period_s = period_s
        self.min_gap_s = 0.5 * period_s
        self._last_s = -math.inf

    def due(self, t_s: float) -> bool:
        """Whether a step at ``t_s`` [s] runs (it is then the last step)."""
        if t_s - self._last_s < self.min_gap_s and t_s >= self._last_s:
            return False
        self._last_s = t_s
        return True
