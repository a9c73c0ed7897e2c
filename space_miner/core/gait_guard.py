# SPDX-License-Identifier: Apache-2.0
"""The never-detach guard (DESIGN.md section 5): every mode and every command passes it.

On a body that requires grip:

- a release (or stow) is refused when it would leave fewer than ``min_verified_grips``
  claws holding a verified grip;
- a commanded external load (sampling reaction, leg push) is scaled down to at most
  ``load_fraction`` of the sum of the verified holding forces;
- ``roll`` and ``walk`` are refused; with a claw failed (or fewer than three working claws)
  ``crawl`` is refused, while ``anchor`` on the working claws is allowed.

A pull test is a load on the tested claw alone, reacted in compression by the body and the
other feet: it pulls only on a claw that grips, never on one of the last
``min_verified_grips`` verified grips (a failed test must not cost a counted grip), and is
bounded by half the verified holding of the others once two of them are verified (before
that, at start-up or after a claw failure, by the pull-test bound itself). Decisions carry
their reason.
"""

from dataclasses import dataclass
from enum import Enum
import math
from typing import Iterable, Mapping

from space_miner.core.gait_types import (ClawAction, ClawRequest, ClawStatus, Mode,
                                         RELEASING_ACTIONS, Refusal)
from space_miner.interfaces import CLAW_LEGS


class Verdict(Enum):
    """Outcome of a guard check."""

    ALLOW = 'allow'
    SCALE = 'scale'
    REFUSE = 'refuse'


@dataclass(frozen=True)
class GuardDecision:
    """A guard's verdict, the value it allows (a load [N], when one was asked) and why."""

    verdict: Verdict
    reason: str = ''
    allowed_value: float = 0.0

    @property
    def allowed(self) -> bool:
        """Whether the request may go ahead (as asked or scaled)."""
        return self.verdict is not Verdict.REFUSE


def verified_claws(claws: Mapping[str, ClawStatus]) -> tuple:
    """Claws holding a verified grip, in CLAW_LEGS order."""
    return tuple(c for c in CLAW_LEGS if c in claws and claws[c].holds_verified)


_MISSING = ClawStatus(failed=True)


def working_claws(claws: Mapping[str, ClawStatus]) -> tuple:
    """Claws that have not failed (a claw with no state counts as failed), in CLAW_LEGS order."""
    return tuple(c for c in CLAW_LEGS if not claws.get(c, _MISSING).failed)


def verified_holding_n(claws: Mapping[str, ClawStatus], exclude: Iterable[str] = ()) -> float:
    """Sum of the verified holding forces of the verified grips [N]."""
    skip = set(exclude)
    return float(sum(claws[c].verified_holding_n for c in verified_claws(claws)
                     if c not in skip))


class DetachGuard:
    """Checks releases, loads and modes against the never-detach rule."""

    def __init__(self, requires_grip: bool, body_name: str = 'body', min_verified_grips: int = 2,
                 load_fraction: float = 0.5) -> None:
        if min_verified_grips < 2:
            raise ValueError('min_verified_grips must be at least 2 (DESIGN.md section 5)')
        if not 0.0 < load_fraction <= 0.5:
            raise ValueError('load_fraction must be within (0, 0.5] (DESIGN.md section 5)')
        self.requires_grip = bool(requires_grip)
        self.body_name = body_name
        self.min_verified_grips = int(min_verified_grips)
        self.load_fraction = float(load_fraction)

    # --- releases ---------------------------------------------------------------------
    def check_release(self, claws: Mapping[str, ClawStatus], releasing: Iterable[str]
                      ) -> GuardDecision:
        """Check whether the claws in ``releasing`` may let go together."""
        releasing = set(releasing)
        if not self.requires_grip or not releasing:
            return GuardDecision(Verdict.ALLOW)
        left = [c for c in verified_claws(claws) if c not in releasing]
        if len(left) < self.min_verified_grips:
            names = ', '.join(sorted(releasing))
            return GuardDecision(
                Verdict.REFUSE,
                f'release of {names} refused: it would leave {len(left)} verified grip(s) '
                f'on {self.body_name}, fewer than {self.min_verified_grips}')
        return GuardDecision(Verdict.ALLOW)

    # --- loads ------------------------------------------------------------------------
    def external_load_limit_n(self, claws: Mapping[str, ClawStatus]) -> float:
        """Return the largest external load allowed now [N] (inf where grip is not required)."""
        if not self.requires_grip:
            return math.inf
        if len(verified_claws(claws)) < self.min_verified_grips:
            return 0.0
        return self.load_fraction * verified_holding_n(claws)

    def check_load(self, claws: Mapping[str, ClawStatus], load_n: float,
                   subject: str = 'external load') -> GuardDecision:
        """Allow, scale down or refuse a commanded external load of ``load_n`` [N]."""
        if not math.isfinite(load_n) or load_n < 0.0:
            return GuardDecision(Verdict.REFUSE, f'{subject} {load_n!r} N refused: not a '
                                 'finite non-negative force', 0.0)
        limit = self.external_load_limit_n(claws)
        if load_n <= limit:
            return GuardDecision(Verdict.ALLOW, '', load_n)
        if limit <= 0.0:
            return GuardDecision(
                Verdict.REFUSE, f'{subject} of {load_n:.1f} N refused: fewer than '
                f'{self.min_verified_grips} verified grips on {self.body_name}', 0.0)
        return GuardDecision(
            Verdict.SCALE, f'{subject} of {load_n:.1f} N scaled to {limit:.1f} N: '
            f'half the verified holding of {verified_holding_n(claws):.1f} N', limit)

    def check_pull_test(self, claws: Mapping[str, ClawStatus], claw: str, load_n: float,
                        bound_n: float) -> GuardDecision:
        """Allow, scale or refuse a pull test of ``load_n`` [N] on ``claw`` (``bound_n`` cap)."""
        status = claws.get(claw, ClawStatus())
        if not math.isfinite(load_n) or load_n < 0.0:
            return GuardDecision(Verdict.REFUSE, f'pull test on {claw} refused: load '
                                 f'{load_n!r} N is not finite and non-negative', 0.0)
        if not status.gripping or status.failed:
            return GuardDecision(Verdict.REFUSE,
                                 f'pull test on {claw} refused: it does not grip', 0.0)
        limit = bound_n
        if self.requires_grip:
            verified_others = [c for c in verified_claws(claws) if c != claw]
            if status.holds_verified and len(verified_others) < self.min_verified_grips:
                return GuardDecision(
                    Verdict.REFUSE, f'pull test on {claw} refused: it is one of the '
                    f'{self.min_verified_grips} verified grips on {self.body_name}', 0.0)
            if len(verified_others) >= self.min_verified_grips:
                limit = min(limit, self.load_fraction
                            * verified_holding_n(claws, exclude=(claw,)))
        if load_n <= limit:
            return GuardDecision(Verdict.ALLOW, '', load_n)
        return GuardDecision(Verdict.SCALE, f'pull test on {claw} scaled from {load_n:.1f} N '
                             f'to {limit:.1f} N', max(0.0, limit))

    # --- modes ------------------------------------------------------------------------
    def check_mode(self, mode: Mode, claws: Mapping[str, ClawStatus]) -> GuardDecision:
        """Check whether ``mode`` may run on this body with these claws."""
        working = working_claws(claws)
        if mode is Mode.HOLD:
            return GuardDecision(Verdict.ALLOW)
        if self.requires_grip and mode in (Mode.ROLL, Mode.WALK):
            return GuardDecision(Verdict.REFUSE,
                                 f'{mode.value} refused: {self.body_name} requires grip')
        if mode is Mode.CRAWL and len(working) < len(CLAW_LEGS):
            failed = ', '.join(c for c in CLAW_LEGS if c not in working)
            return GuardDecision(Verdict.REFUSE,
                                 f'crawl refused: cannot crawl with claw {failed} failed')
        if mode is Mode.ANCHOR and len(working) < self.min_verified_grips:
            return GuardDecision(Verdict.REFUSE, f'anchor refused: only {len(working)} '
                                 f'working claw(s), {self.min_verified_grips} needed')
        return GuardDecision(Verdict.ALLOW)

    # --- claw requests ----------------------------------------------------------------
    def filter_claw_requests(self, claws: Mapping[str, ClawStatus],
                             requests: Mapping[str, ClawRequest], pull_bound_n: float
                             ) -> tuple:
        """Pass every claw request through the rule; refused releases become HOLD.

        Releases are granted one claw at a time in CLAW_LEGS order, each checked together
        with those already granted. Returns (requests in CLAW_LEGS order, refusals).
        """
        granted = []
        out = {}
        refusals = []
        for claw in CLAW_LEGS:
            req = requests.get(claw, ClawRequest(claw, ClawAction.HOLD))
            if req.action in RELEASING_ACTIONS:
                decision = self.check_release(claws, granted + [claw])
                if not decision.allowed:
                    refusals.append(Refusal(f'{claw} {req.action.value}', decision.reason))
                    req = ClawRequest(claw, ClawAction.HOLD, req.grip_force_n)
                else:
                    granted.append(claw)
            elif req.action is ClawAction.VERIFY:
                decision = self.check_pull_test(claws, claw, req.pull_load_n, pull_bound_n)
                if not decision.allowed:
                    refusals.append(Refusal(f'{claw} verify', decision.reason))
                    req = ClawRequest(claw, ClawAction.HOLD, req.grip_force_n)
                elif decision.verdict is Verdict.SCALE:
                    refusals.append(Refusal(f'{claw} verify', decision.reason))
                    req = ClawRequest(claw, ClawAction.VERIFY, req.grip_force_n,
                                      decision.allowed_value)
            out[claw] = req
        return tuple(out[c] for c in CLAW_LEGS), tuple(refusals)
