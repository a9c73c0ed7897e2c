# SPDX-License-Identifier: Apache-2.0
"""The never-detach rule, judged from the simulator's truth (DESIGN.md section 5).

Every physics step the harness (and the sim node) hands the judge the world's true grip
state of each claw and the commanded external load. On a body that requires grip the rule
is broken while fewer than two claws truly hold, or while the true holding forces of the
gripping claws sum to less than twice the external load. The judge counts violation
episodes (entering violation) and the time spent in violation, and keeps the lowest
holding margin — from the controllers' *verified* holding forces when given (what the
summary reports), and from the truth.

Verified means tested, and never more than the world holds: given what the stack believes
(the claw controller's verified holding per claw), every step on every body a claw whose
verified holding exceeds its true holding is a breach of the rule's third clause. Each
breach episode of a claw is a violation with its reason. The world can take a grip away
faster than any sensor can tell (a claw failure, a pad torn off): a breach counts once it
has lasted ``BELIEF_LAG_S``, the time the claw controller needs to see a grip go (its slip
cues persist ``slip_persist_s`` = 4 ms behind a 4 ms filter; the fingers close on nothing
within a few steps), never a breach that the stack goes on believing.
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
#: A claw's verified holding may exceed its true holding this long [s] before it is a
#: violation: the claw controller's time to see a grip that the world took away.
BELIEF_LAG_S = 0.05


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
    belief_breaches: int = 0
    belief_breach_time_s: float = 0.0


class NeverDetachJudge:
    """Count never-detach violations from the simulator's truth, step by step."""

    def __init__(self, requires_grip: bool, max_reasons: int = 20) -> None:
        self.verdict = Verdict(requires_grip=requires_grip)
        self._max_reasons = max_reasons
        #: Per claw: since when [s] its verified holding exceeds its true holding, and
        #: whether that episode has been counted.
        self._breach_since: dict = {}
        self._breach_counted: set = set()

    def step(self, t_s: float, dt_s: float, truth: Mapping[str, ClawTruth],
             external_load_n: float,
             verified_holding_n: Mapping[str, float] | None = None,
             believed_holding_n: Mapping[str, float] | None = None) -> bool:
        """Judge one step; return True when the rule holds at ``t_s``.

        ``external_load_n`` is the magnitude of the commanded external load (sampling
        reaction, a push); ``verified_holding_n`` the controllers' verified holding force
        per claw, when known (the margin); ``believed_holding_n`` the claw controller's
        verified holding per claw as of this step (None: not judged), held against the
        truth claw by claw.
        """
        believed_ok = True
        if believed_holding_n is not None:
            believed_ok = self._judge_belief(t_s, dt_s, truth, believed_holding_n)
        return self._judge_holding(t_s, dt_s, truth, external_load_n,
                                   verified_holding_n) and believed_ok

    def _judge_belief(self, t_s: float, dt_s: float, truth: Mapping[str, ClawTruth],
                      believed: Mapping[str, float]) -> bool:
        """Count claws believed to hold more than they truly do (see the module docstring)."""
        v = self.verdict
        ok = True
        for claw, value in believed.items():
            f = float(value)
            if not f > 0.0:   # no claim (zero, negative or NaN: never counted as verified)
                self._breach_since.pop(claw, None)
                self._breach_counted.discard(claw)
                continue
            real = truth.get(claw)
            true_n = real.holding_force_n if real is not None else 0.0
            if f > true_n:
                since = self._breach_since.setdefault(claw, t_s)
                v.belief_breach_time_s += dt_s
                if t_s - since >= BELIEF_LAG_S - 1e-9:
                    ok = False
                    if claw not in self._breach_counted:
                        self._breach_counted.add(claw)
                        v.belief_breaches += 1
                        reason = (f'{claw} verified at {f:.1f} N but truly holds '
                                  f'{true_n:.1f} N (since t={since:.3f} s)')
                        self._count(t_s, reason)
            else:
                self._breach_since.pop(claw, None)
                self._breach_counted.discard(claw)
        return ok

    def _count(self, t_s: float, reason: str) -> None:
        """Count one violation episode that starts at ``t_s`` with its reason."""
        v = self.verdict
        v.violations += 1
        if v.first_violation_s is None:
            v.first_violation_s = t_s
        if len(v.reasons) < self._max_reasons:
            v.reasons.append(f't={t_s:.3f} s: {reason}')
        v.last_reason = reason

    def _judge_holding(self, t_s: float, dt_s: float, truth: Mapping[str, ClawTruth],
                       external_load_n: float,
                       verified_holding_n: Mapping[str, float] | None) -> bool:
        """Judge the rule's first two clauses from the truth (requires-grip bodies only)."""
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
            self._count(t_s, reason)
        v.in_violation = True
        v.violation_time_s += dt_s
        v.last_reason = reason
        return False
