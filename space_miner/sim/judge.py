# SPDX-License-Identifier: Apache-2.0
"""The never-detach rule, judged from the simulator's truth (DESIGN.md section 5).

Every physics step the harness (and the sim node) hands the judge the world's true grip
state of each claw and the commanded external load. On a body that requires grip the rule
is broken while fewer than two claws truly hold, or while the true holding forces of the
gripping claws sum to less than twice the external load. The judge counts violation
episodes (entering violation) and the time spent in violation, and keeps the lowest
holding margin — from the controllers' *verified* holding forces when given (what the
summary reports), and from the truth.
"""

from dataclasses import dataclass, field
import math
from typing import Mapping

#: A claw truly holds when the simulator's holding force is at least this [N].
HOLD_MIN_N = 1.0
#: Holding must stay at least this multiple of the external load (DESIGN.md section 5).
LOAD_FACTOR = 2.0
#: Loads below this are "no load" for the margin [N].
LOAD_EPS_N = 1e-6


@dataclass(frozen=True)
class ClawTruth:
    """What the judge needs of one claw's truth: is it holding, with what force [N]."""

    gripping: bool
    holding_force_n: float


@dataclass
class Verdict:
    """The running verdict of the rule over a run."""

    requires_grip: bool
    violations: int = 0
    violation_time_s: float = 0.0
    first_violation_s: float | None = None
    last_reason: str = ''
    min_margin_verified: float | None = None
    min_margin_true: float | None = None
    min_claws_holding: int | None = None
    in_violation: bool = False
    reasons: list = field(default_factory=list)


class NeverDetachJudge:
    """Count never-detach violations from the simulator's truth, step by step."""

    def __init__(self, requires_grip: bool, max_reasons: int = 20) -> None:
        self.verdict = Verdict(requires_grip=requires_grip)
        self._max_reasons = max_reasons

    def step(self, t_s: float, dt_s: float, truth: Mapping[str, ClawTruth],
             external_load_n: float,
             verified_holding_n: Mapping[str, float] | None = None) -> bool:
        """Judge one step; return True when the rule holds at ``t_s``.

        ``external_load_n`` is the magnitude of the commanded external load (sampling
        reaction, a push); ``verified_holding_n`` the controllers' verified holding force
        per claw, when known.
        """
        v = self.verdict
        load = abs(float(external_load_n)) if math.isfinite(external_load_n) else math.inf
        holding = [c.holding_force_n for c in truth.values()
                   if c.gripping and c.holding_force_n >= HOLD_MIN_N]
        count = len(holding)
        true_sum = float(sum(holding))
        v.min_claws_holding = count if v.min_claws_holding is None else min(
            v.min_claws_holding, count)
        if load > LOAD_EPS_N:
            margin = true_sum / load
            v.min_margin_true = margin if v.min_margin_true is None else min(
                v.min_margin_true, margin)
            if verified_holding_n is not None:
                verified = sum(max(0.0, float(f)) for f in verified_holding_n.values()
                               if math.isfinite(f))
                margin_v = verified / load
                v.min_margin_verified = margin_v if v.min_margin_verified is None else min(
                    v.min_margin_verified, margin_v)
        if not v.requires_grip:
            return True
        reason = ''
        if count < 2:
            reason = f'{count} claw(s) holding (at least 2 required)'
        elif true_sum < LOAD_FACTOR * load:
            reason = (f'holding {true_sum:.1f} N < {LOAD_FACTOR:g} x external load '
                      f'{load:.1f} N')
        if not reason:
            v.in_violation = False
            return True
        if not v.in_violation:
            v.violations += 1
            if v.first_violation_s is None:
                v.first_violation_s = t_s
            if len(v.reasons) < self._max_reasons:
                v.reasons.append(f't={t_s:.3f} s: {reason}')
        v.in_violation = True
        v.violation_time_s += dt_s
        v.last_reason = reason
        return False
