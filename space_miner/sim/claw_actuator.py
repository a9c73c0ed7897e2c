# SPDX-License-Identifier: Apache-2.0
"""The claw's grip actuator as a plant: lag, Coulomb friction, force limit and noisy sensors.

One :class:`ClawActuator` per claw. The simulator steps it with the effort command of
``/claw_effort_controller/commands`` and uses :attr:`ClawActuator.force_n` as the squeeze
force it applies (and, through the terrain's grip fraction, the holding force); it reports
:meth:`ClawActuator.measured_effort_n` as the claw joint's effort in ``/joint_states`` and
corrupts the wrist wrench with :meth:`ClawActuator.measured_wrench`. The figures all come
from ``config/robot.yaml`` (``claw.actuator`` and ``claw.sensors``).

Model of the squeeze force F [N] under the command u [N] (clamped to 0..grip_force_max_n):
the drive u - F moves F only where it exceeds the friction f; friction then takes f off
the drive, so F relaxes with the time constant tau towards u - f (closing) or u + f
(opening) and sticks anywhere within f of the command. Exact discretisation of the lag,
so any step ``dt_s`` is stable. A failed claw produces no force whatever the command.
Pure numpy; deterministic for a given ``numpy.random.Generator`` seed.

Each reading draws its normals from the generator in a fixed order (the effort one, the
wrench six). An actuator that owns its generator (``exclusive_rng``) draws them in blocks
ahead of need: the same values in the same order, for a fraction of the calls.
"""

import math
from typing import Sequence

import numpy as np

from space_miner.core.robot import ClawConfig

#: How many normals an actuator with its own generator draws at a time.
_BLOCK = 700


class ClawActuator:
    """One claw's squeeze actuator and its effort and wrist-wrench sensors.

    ``failed`` may be set at any time (a ``claw_failure`` fault): the squeeze force drops
    to zero and stays there while it is set.
    """

    def __init__(self, cfg: ClawConfig, rng: np.random.Generator, *,
                 exclusive_rng: bool = False) -> None:
        self.cfg = cfg
        self.rng = rng
        # exclusive_rng: nothing else draws from rng, so normals may be drawn in blocks
        # ahead (standard_normal in one block gives the values one-by-one draws would).
        self._normals: list | None = [] if exclusive_rng else None
        self._next_normal = 0
        #: True: the claw can no longer grip (the force is zero whatever the command).
        self.failed: bool = False
        self._force_n = 0.0
        self._command_n = 0.0

    @property
    def force_n(self) -> float:
        """Actual squeeze force [N] (0..grip_force_max_n)."""
        return self._force_n

    @property
    def command_n(self) -> float:
        """Last command applied, after clamping to 0..grip_force_max_n [N]."""
        return self._command_n

    def reset(self, force_n: float = 0.0) -> None:
        """Set the squeeze force [N] (e.g. a robot that starts gripped); clears nothing else."""
        force_n = float(force_n)
        if not math.isfinite(force_n):
            raise ValueError(f'force_n = {force_n!r}: must be finite')
        self._force_n = min(max(force_n, 0.0), self.cfg.grip_force_max_n)
        self._command_n = self._force_n

    def step(self, command_n: float, dt_s: float) -> float:
        """Advance by ``dt_s`` [s] under the squeeze command ``command_n`` [N]; return force [N].

        A non-finite command is treated as zero (the drive's own protection); a
        non-positive ``dt_s`` changes nothing.
        """
        cfg = self.cfg
        command = float(command_n)
        if not math.isfinite(command):
            command = 0.0
        command = min(max(command, 0.0), cfg.grip_force_max_n)
        self._command_n = command
        if self.failed:
            self._force_n = 0.0
            return 0.0
        if not dt_s > 0.0:
            return self._force_n
        force = self._force_n
        if command <= 0.0:
            # Open: the drive backs the fingers off the rock, so no squeeze remains; friction
            # only slows the release, it cannot hold a squeeze the motor is undoing.
            self._force_n = force * math.exp(-dt_s / cfg.time_constant_s)
            if self._force_n < 1e-3:
                self._force_n = 0.0
            return self._force_n
        drive = command - force
        if abs(drive) <= cfg.friction_n:
            return force  # stuck: the drive does not beat friction
        goal = command - math.copysign(cfg.friction_n, drive)
        force = goal + (force - goal) * math.exp(-dt_s / cfg.time_constant_s)
        self._force_n = min(max(force, 0.0), cfg.grip_force_max_n)
        return self._force_n

    def _draw(self, count: int) -> list:
        """Return the generator's next ``count`` standard normals (Python floats)."""
        buf = self._normals
        if buf is None:
            return self.rng.standard_normal(count).tolist()
        i = self._next_normal
        if i + count > len(buf):
            buf = self._normals = buf[i:] + self.rng.standard_normal(_BLOCK).tolist()
            i = 0
        self._next_normal = i + count
        return buf[i:i + count]

    def measured_effort_n(self) -> float:
        """Return the claw joint's measured effort [N]: force + bias + N(0, effort_noise_std_n)."""
        noise = 0.0 + self.cfg.effort_noise_std_n * self._draw(1)[0]
        return self._force_n + self.cfg.effort_bias_n + noise

    def measured_wrench(self, true_force_xyz: Sequence[float],
                        true_torque_xyz: Sequence[float]) -> tuple:
        """Corrupt a true wrist wrench with the wrist sensor's bias and noise.

        ``true_force_xyz`` [N] and ``true_torque_xyz`` [N m] in ``<c>_ft_link``; returns
        ``(force_xyz_n, torque_xyz_nm)`` as numpy arrays of 3, each axis offset by the
        configured bias and perturbed by independent Gaussian noise. Always draws six
        normals, so the random stream does not depend on the values.
        """
        force = np.asarray(true_force_xyz, dtype=float).reshape(3).tolist()
        torque = np.asarray(true_torque_xyz, dtype=float).reshape(3).tolist()
        return self.corrupt_wrench(force, torque)

    def corrupt_wrench(self, force_xyz: list, torque_xyz: list) -> tuple:
        """Do :meth:`measured_wrench` on lists of 3 floats [N, N m] (no checks: the fast path)."""
        cfg = self.cfg
        n = self._draw(6)
        fb, fs = cfg.wrench_force_bias_n, cfg.wrench_force_noise_std_n
        tb, ts = cfg.wrench_torque_bias_nm, cfg.wrench_torque_noise_std_nm
        return (np.array([force_xyz[0] + fb + fs * n[0], force_xyz[1] + fb + fs * n[1],
                          force_xyz[2] + fb + fs * n[2]]),
                np.array([torque_xyz[0] + tb + ts * n[3], torque_xyz[1] + tb + ts * n[4],
                          torque_xyz[2] + tb + ts * n[5]]))
