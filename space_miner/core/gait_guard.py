# SPDX-License-Identifier: Apache-2.0
"""The never-detach guard (DESIGN.md section 5): every mode and every command passes it.

On a body that requires grip:

- a release (or stow) is refused when it would leave fewer than ``min_verified_grips``
  claws holding a verified grip;
- given the wrist loads, a release (or stow) of a claw whose leg still carries load is
  refused: the claw keeps its grip, the refusal says why, and the gait unloads it and asks
  again (or goes to hold). Opening a loaded claw gives its load back to the rest of the
  robot as a failed pull test does, so the bound is the same: ``load_fraction`` of the
  verified holding that stays, less the body's outward weight, and never less than
  ``release_load_max_n`` (a relieved leg, the noise floor); an unknown load is refused.
  This holds whether or not the relieving of the leg ran out of time;
- a commanded external load (sampling reaction, leg push) is scaled down to at most
  ``load_fraction`` of the sum of the verified holding forces;
- ``roll`` and ``walk`` are refused; with a claw failed (or fewer than three working claws)
  ``crawl`` is refused, while ``anchor`` on the working claws is allowed.

Pull tests. DESIGN.md section 5 asks that "at every instant at least two claws hold with a
verified grip", that "the sum of the verified holding forces of the gripping claws stays at
least twice any commanded external load (sampling reaction, leg push)" and that "a grip
counts as verified only after force feedback has shown it (a pull test), never by
assumption". A pull test is a load on the tested claw alone, reacted in compression by the
body and the other feet; it pulls only on a claw that grips, never on one of the last
``min_verified_grips`` verified grips (a failed test must not cost a counted grip).

If the tested claw lets go, the load it carried comes back onto the rest of the robot: the
stance legs, pressed by the test, spring the body away from the ground, and the other
gripping claws catch it in tension. That tension is at most the test load ``L`` (undamped,
the energy ``L^2 / 2K`` of the stance of stiffness ``K`` is taken up by the claws' legs of
stiffness ``K_c <= K``: ``T = L sqrt(K_c / K) <= L``; a ramped test that stops at the first
slip, as the claw controller runs it, gives back only what the claw held, ``<= L``), plus
the body's own outward weight where the effective gravity points away from the ground. So:

- with ``min_verified_grips`` other claws verified, a test is a leg push under the rule's
  load clause: ``L <= load_fraction x (their verified holding) - outward weight``;
- with fewer (at start-up, after a claw failure, after a slip withdrew a verification) the
  rule cannot yet be met by verification: the test is what creates it. The test is then
  bounded so that, if it fails, the robot is still held by what the *other* gripping claws
  surely hold: ``L <= sum over the other gripping claws of (verified holding, or for a grip
  not yet verified its least holding) - outward weight``. The least holding of a grip not
  yet verified is ``unverified_holding_n``; the gait controller sets it to the holding the
  stance compliance already assumes of such a grip (it lets it carry
  ``unverified_load_limit_n`` = 10 N at ``load_fraction`` 0.5: 20 N). It is never counted as
  a verification, and a grip that has shown itself weaker (a slip withdrew its
  verification: ``uncredited``) is not given it. With no other claw gripping, or none about
  to stay gripped (a claw being released counts for nothing), the test is refused.

What this changes: a test with no other claw gripping was allowed the full
``pull_test_load_n`` (40 N) and is now refused; with one other claw gripping and not
verified it is bounded by 20 N; with one verified other of holding H, by H + 20 N (H if the
third claw has slipped or failed). At start-up (two grips at force, none verified) the bound
is 40 N, so the first test is unchanged. Limit, stated plainly: DESIGN.md section 6 puts a
grip at 150 N on regolith (grip fraction 0.1) at 15 N, so 20 N is a physical floor only on
smooth, rubble and rock. The strict floor (15 N each, a 30 N first test) was tried: the
lockstep Bennu crawl (test_locomotion_harness, seed 7) then broke the rule once (36.4 s: c2
released while c3, reported verified by the claw controller at 0.8 x the load of a pull
test slip, no longer held); with 20 N that run is unchanged. See the report of issue 7.
Decisions carry their reason.
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
    """Checks releases, loads, pull tests and modes against the never-detach rule.

    ``unverified_holding_n`` [N]: the least holding of a grip at force not yet verified
    (0: such grips are worth nothing to a pull test); ``body_outward_n`` [N]: the body's
    weight away from the ground (mass x outward effective acceleration, 0 when it points
    into the ground); ``release_load_max_n`` [N]: a wrist load a claw may always be opened
    with (a relieved leg; see :meth:`release_load_limit_n`; inf: any load).
    """

    def __init__(self, requires_grip: bool, body_name: str = 'body', min_verified_grips: int = 2,
                 load_fraction: float = 0.5, unverified_holding_n: float = 0.0,
                 body_outward_n: float = 0.0, release_load_max_n: float = math.inf) -> None:
        if min_verified_grips < 2:
            raise ValueError('min_verified_grips must be at least 2 (DESIGN.md section 5)')
        if not 0.0 < load_fraction <= 0.5:
            raise ValueError('load_fraction must be within (0, 0.5] (DESIGN.md section 5)')
        for name, value in (('unverified_holding_n', unverified_holding_n),
                            ('body_outward_n', body_outward_n)):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f'{name} must be a finite non-negative force [N]')
        if not release_load_max_n >= 0.0:
            raise ValueError('release_load_max_n must be a non-negative force [N]')
        self.requires_grip = bool(requires_grip)
        self.body_name = body_name
        self.min_verified_grips = int(min_verified_grips)
        self.load_fraction = float(load_fraction)
        self.unverified_holding_n = float(unverified_holding_n)
        self.body_outward_n = float(body_outward_n)
        self.release_load_max_n = float(release_load_max_n)

    # --- releases ---------------------------------------------------------------------
    def check_release(self, claws: Mapping[str, ClawStatus], releasing: Iterable[str],
                      loads_n: Mapping[str, float] | None = None,
                      under_way: Iterable[str] = ()) -> GuardDecision:
        """Check whether the claws in ``releasing`` may let go together.

        ``loads_n`` are the wrist loads [N] per claw (None: not checked); a gripping claw
        whose load is above ``release_load_max_n``, missing or not finite may not be opened.
        Claws in ``under_way`` are already opening (their release went out): their load is
        not checked again, as holding them would not close them.
        """
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
        if loads_n is not None:
            started = set(under_way)
            for claw in sorted(releasing):
                status = claws.get(claw, ClawStatus())
                if not status.gripping or claw in started:
                    continue
                load = loads_n.get(claw)
                if load is None or not math.isfinite(load):
                    return GuardDecision(Verdict.REFUSE, f'release of {claw} refused: its '
                                         'wrist load is unknown, it may still carry load')
                limit = self.release_load_limit_n(claws, releasing)
                if load > limit:
                    return GuardDecision(
                        Verdict.REFUSE, f'release of {claw} refused: it still carries '
                        f'{load:.1f} N (> {limit:.1f} N): grip kept')
        return GuardDecision(Verdict.ALLOW)

    def release_load_limit_n(self, claws: Mapping[str, ClawStatus],
                             releasing: Iterable[str]) -> float:
        """Return the largest wrist load [N] a claw may carry as it is opened.

        Opening a loaded claw gives its load back to the rest of the robot, as a pull test
        that fails does: at most ``load_fraction`` of the verified holding of the claws
        that stay (less the body's outward weight), and never less than
        ``release_load_max_n`` (a relieved leg).
        """
        shared = self.load_fraction * verified_holding_n(claws, exclude=releasing) \
            - self.body_outward_n
        return max(self.release_load_max_n, shared)

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

    def pull_test_limit_n(self, claws: Mapping[str, ClawStatus], claw: str,
                          releasing: Iterable[str] = (), uncredited: Iterable[str] = ()
                          ) -> float:
        """Return the largest pull-test load on ``claw`` the rule allows now [N].

        Infinite where grip is not required. With ``min_verified_grips`` other verified grips:
        ``load_fraction`` of their verified holding; with fewer: what the other gripping
        claws surely hold (verified holding, or ``unverified_holding_n`` for a grip not yet
        verified). Both less the body's outward weight; claws in ``releasing`` count for
        nothing, and a grip not verified in ``uncredited`` (e.g. one whose verification a
        slip withdrew) too. See the module docstring.
        """
        if not self.requires_grip:
            return math.inf
        gone = set(releasing) | {claw}
        weak = set(uncredited)
        verified_others = [c for c in verified_claws(claws) if c not in gone]
        if len(verified_others) >= self.min_verified_grips:
            limit = self.load_fraction * verified_holding_n(claws, exclude=gone)
        else:
            limit = 0.0
            for other in CLAW_LEGS:
                status = claws.get(other, _MISSING)
                if other in gone or not status.gripping or status.failed:
                    continue
                if status.holds_verified:
                    limit += status.verified_holding_n
                elif other not in weak:
                    limit += self.unverified_holding_n
        return max(0.0, limit - self.body_outward_n)

    def check_pull_test(self, claws: Mapping[str, ClawStatus], claw: str, load_n: float,
                        bound_n: float, releasing: Iterable[str] = (),
                        uncredited: Iterable[str] = ()) -> GuardDecision:
        """Allow, scale or refuse a pull test of ``load_n`` [N] on ``claw`` (``bound_n`` cap).

        ``releasing``: claws being let go meanwhile (they hold nothing for the test);
        ``uncredited``: see :meth:`pull_test_limit_n`.
        """
        status = claws.get(claw, ClawStatus())
        if not math.isfinite(load_n) or load_n < 0.0:
            return GuardDecision(Verdict.REFUSE, f'pull test on {claw} refused: load '
                                 f'{load_n!r} N is not finite and non-negative', 0.0)
        if not status.gripping or status.failed:
            return GuardDecision(Verdict.REFUSE,
                                 f'pull test on {claw} refused: it does not grip', 0.0)
        limit = bound_n
        if self.requires_grip:
            gone = set(releasing) | {claw}
            verified_others = [c for c in verified_claws(claws) if c not in gone]
            if status.holds_verified and len(verified_others) < self.min_verified_grips:
                return GuardDecision(
                    Verdict.REFUSE, f'pull test on {claw} refused: it is one of the '
                    f'{self.min_verified_grips} verified grips on {self.body_name}', 0.0)
            rule_n = self.pull_test_limit_n(claws, claw, releasing, uncredited)
            if rule_n <= 0.0:
                return GuardDecision(
                    Verdict.REFUSE, f'pull test on {claw} refused: no other claw would hold '
                    f'{self.body_name} if it let go', 0.0)
            if rule_n < limit:
                limit = rule_n
                basis = ('half the verified holding of the others'
                         if len(verified_others) >= self.min_verified_grips
                         else 'what the other gripping claws surely hold')
            else:
                basis = 'the pull-test bound'
        else:
            basis = 'the pull-test bound'
        if load_n <= limit:
            return GuardDecision(Verdict.ALLOW, '', load_n)
        return GuardDecision(Verdict.SCALE, f'pull test on {claw} scaled from {load_n:.1f} N '
                             f'to {limit:.1f} N: {basis}', max(0.0, limit))

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
                             requests: Mapping[str, ClawRequest], pull_bound_n: float,
                             loads_n: Mapping[str, float] | None = None,
                             under_way: Iterable[str] = (), uncredited: Iterable[str] = ()
                             ) -> tuple:
        """Pass every claw request through the rule; refused releases become HOLD.

        Releases are granted one claw at a time in CLAW_LEGS order, each checked together
        with those already granted (and, with ``loads_n``, against its wrist load;
        ``under_way``: claws already opening, see :meth:`check_release`); pull tests are
        then bounded with the granted releases counting for nothing (``uncredited``: see
        :meth:`pull_test_limit_n`). Returns (requests in CLAW_LEGS order, refusals).
        """
        granted = []
        out = {}
        refusals = []
        for claw in CLAW_LEGS:
            req = requests.get(claw, ClawRequest(claw, ClawAction.HOLD))
            if req.action in RELEASING_ACTIONS:
                decision = self.check_release(claws, granted + [claw], loads_n, under_way)
                if not decision.allowed:
                    refusals.append(Refusal(f'{claw} {req.action.value}', decision.reason,
                                            expected=True))
                    req = ClawRequest(claw, ClawAction.HOLD, req.grip_force_n)
                else:
                    granted.append(claw)
            out[claw] = req
        for claw in CLAW_LEGS:
            req = out[claw]
            if req.action is not ClawAction.VERIFY:
                continue
            decision = self.check_pull_test(claws, claw, req.pull_load_n, pull_bound_n,
                                            granted, uncredited)
            if not decision.allowed:
                refusals.append(Refusal(f'{claw} verify', decision.reason, expected=True))
                out[claw] = ClawRequest(claw, ClawAction.HOLD, req.grip_force_n)
            elif decision.verdict is Verdict.SCALE:
                refusals.append(Refusal(f'{claw} verify', decision.reason, expected=True))
                out[claw] = ClawRequest(claw, ClawAction.VERIFY, req.grip_force_n,
                                        decision.allowed_value)
        return tuple(out[c] for c in CLAW_LEGS), tuple(refusals)
