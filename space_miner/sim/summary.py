# SPDX-License-Identifier: Apache-2.0
"""The run summary of DESIGN.md section 7: built, graded against ``expect``, written safely.

Both ``space-miner sim`` (live graph) and ``space-miner eval`` (lockstep harness) produce
the same summary through :func:`build_summary`; :func:`write_json` writes it atomically
(temporary file, fsync, rename), so a crash never leaves half a summary.
"""

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from space_miner.core.sample_log import atomic_write_bytes

#: Keys every summary carries (DESIGN.md section 7).
REQUIRED_KEYS = ('scenario', 'success', 'reason', 'end_mode', 'expected_outcome_met',
                 'sim_time_s', 'wall_time_s', 'distance_m', 'samples', 'total_sample_g',
                 'detached', 'rule_violations', 'min_holding_margin', 'gait_time_s',
                 'faults_survived')
SAMPLE_KEYS = ('site', 'mass_g', 'duration_s', 'outcome')


def grade(expect: Any, success: bool, detached: bool, end_mode: str | None) -> bool:
    """Whether a run ended as the scenario's ``expect`` block says.

    ``expect`` has ``success``, ``detached`` and ``end_mode`` (None: any end mode).
    """
    if bool(expect.success) != bool(success) or bool(expect.detached) != bool(detached):
        return False
    return expect.end_mode is None or expect.end_mode == end_mode


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def build_summary(*, scenario: Any, success: bool, reason: str, end_mode: str | None,
                  sim_time_s: float, wall_time_s: float, distance_m: float,
                  samples: Sequence[Mapping[str, Any]], detached: bool,
                  rule_violations: int, min_holding_margin: float | None,
                  gait_time_s: Mapping[str, float], faults_survived: int,
                  extra: Mapping[str, Any] | None = None) -> dict:
    """Assemble the summary dict; ``extra`` adds keys (e.g. estimation error)."""
    samples = [dict(s) for s in samples]
    for i, sample in enumerate(samples):
        missing = [k for k in SAMPLE_KEYS if k not in sample]
        if missing:
            raise ValueError(f'samples[{i}] lacks {missing}')
    summary = {
        'scenario': scenario.name,
        'body': scenario.body,
        'seed': scenario.seed,
        'success': bool(success),
        'reason': str(reason),
        'end_mode': end_mode,
        'expected_outcome_met': grade(scenario.expect, success, detached, end_mode),
        'sim_time_s': round(float(sim_time_s), 6),
        'wall_time_s': round(float(wall_time_s), 3),
        'distance_m': round(float(distance_m), 4),
        'samples': samples,
        'total_sample_g': round(sum(float(s['mass_g']) for s in samples), 3),
        'detached': bool(detached),
        'rule_violations': int(rule_violations),
        'min_holding_margin': _finite_or_none(min_holding_margin),
        'gait_time_s': {k: round(float(v), 3) for k, v in sorted(gait_time_s.items())},
        'faults_survived': int(faults_survived),
    }
    if extra:
        summary.update(extra)
    return summary


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (see :func:`write_text`)."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False)
                      + '\n')


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and durably (creating its directory).

    By :func:`space_miner.core.sample_log.atomic_write_bytes`: tmp file, fsync, rename,
    directory fsync.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode('utf-8'))
    return path
