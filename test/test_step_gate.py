# SPDX-License-Identifier: Apache-2.0
"""The step gate of the nodes that step on a sensor stream's arrival (gait, sampler)."""

import pytest

from space_miner.nodes.step_gate import StepGate


def test_one_step_per_period_with_a_clock_a_tick_early_or_late():
    gate = StepGate(0.02)   # 50 Hz arrivals read on a clock that may be a tick off
    arrivals = [0.0, 0.0, 0.004, 0.02, 0.035, 0.036, 0.05]
    ran = [t for t in arrivals if gate.due(t)]
    # A second arrival on the same tick, or 4 ms later, does not step again; 15 ms after a
    # step (a reading a tick late, then one on time) does: half a period is enough.
    assert ran == [0.0, 0.02, 0.035, 0.05]


def test_a_clock_that_goes_back_lets_the_next_step_through():
    gate = StepGate(0.02)
    assert gate.due(5.0)
    assert gate.due(0.0)        # the simulator was reset
    assert not gate.due(0.005)


@pytest.mark.parametrize('period', [0.0, -1.0, float('nan')])
def test_a_period_that_is_not_positive_is_refused(period):
    with pytest.raises(ValueError, match='must be positive'):
        StepGate(period)
