# SPDX-License-Identifier: Apache-2.0
"""`space-miner sim` on the live ROS graph: real rclpy nodes on Fast DDS, the real world.

Runs the short scenario through the CLI with one process per node (``--processes``),
recorded to MCAP: the robot walks to its waypoint, anchors at the site and drills its
sample. Then checks the mission succeeded as the scenario expects, the rule held (judged
by the sim node from the world's truth every physics step), the summary is DESIGN.md
section 7's, the sample log kept the attempt, the bag opens with rosbags and carries
every contract topic, and ``space-miner analyze`` turns it into a report whose counts
match the bag's own messages.

Then the same mission composed (the six stack nodes in one process with one executor, the
simulator in its own), unrecorded: it succeeds too.

Seven Python processes share two cores and the simulator waits for the stack, so the
graph runs at about 0.5-0.8x real time here: each run takes about two minutes.
"""

import json
from pathlib import Path
import subprocess
import sys

import pytest

from space_miner import interfaces as itf
from space_miner.sim.summary import REQUIRED_KEYS

ROOT = Path(__file__).resolve().parent.parent
#: Hardware-side topics of DESIGN.md section 4 that must carry messages in any live run.
CONTRACT = (itf.JOINT_STATES.name, itf.LEG_COMMANDS.name, itf.CLAW_COMMANDS.name,
            *(t.name for t in itf.FT_WRENCHES), itf.IMU.name, itf.SAMPLER_MASS.name,
            itf.DEPTH_IMAGE.name, itf.DEPTH_INFO.name, itf.GROUND_TRUTH_ODOM.name,
            itf.CLOCK.name, itf.ODOM.name, itf.GAIT_MODE.name, itf.CLAW_STATE.name,
            itf.DIAGNOSTICS.name)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp('live')
    bag = out / 'bag'
    summary, result = _sim(out, '--bag', str(bag), '--processes')
    return summary, bag, out, result


def _sim(out: Path, *extra: str) -> tuple:
    summary_path = out / 'summary.json'
    result = subprocess.run(
        [sys.executable, '-m', 'space_miner.cli', 'sim', '--scenario',
         str(ROOT / 'config' / 'scenarios' / 'short_live.yaml'), '--summary',
         str(summary_path), '--rtf', '1.0', *extra],
        capture_output=True, text=True, timeout=2400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(summary_path.read_text()), result


def _mission_succeeded(summary: dict, out: Path) -> None:
    assert summary['success'] is True, summary['reason']
    assert summary['expected_outcome_met'] is True
    assert summary['rule_violations'] == 0 and summary['detached'] is False
    assert summary['total_sample_g'] >= 2.0  # short_live's target
    assert summary['distance_m'] > 0.5  # it travelled to the site
    from space_miner.core.sample_log import SampleLog
    log = SampleLog(out / 'samples.jsonl')  # the sampler's crash-safe log, in the run dir
    assert log.records and log.records[-1].outcome == 'success'


def test_the_mission_succeeds_on_the_live_graph_and_the_rule_held(run):
    summary, _, out, _ = run
    _mission_succeeded(summary, out)
    assert summary['graph'] == 'processes'
    assert len(summary['stack_processes']) == 6, summary['stack_processes']


def test_the_mission_succeeds_with_the_stack_composed_in_one_process(tmp_path):
    summary, result = _sim(tmp_path, '--no-bag')
    _mission_succeeded(summary, tmp_path)
    assert summary['graph'] == 'composed'
    assert summary['stack_processes'] == ['space_miner.nodes.stack'], summary


def test_the_summary_is_design_sections_7(run):
    summary, _, out, _ = run
    assert set(REQUIRED_KEYS) <= set(summary)
    assert summary['scenario'] == 'short_live'
    assert isinstance(summary['samples'], list) and isinstance(summary['gait_time_s'], dict)
    total_s = sum(summary['gait_time_s'].values())
    assert total_s == pytest.approx(summary['sim_time_s'], abs=2.0)
    markdown = (out / 'summary.md').read_text()
    assert 'short_live' in markdown and 'rule violations: 0' in markdown


def test_the_bag_opens_with_rosbags_and_has_every_contract_topic(run):
    from rosbags.highlevel import AnyReader

    summary, bag, _, _ = run
    with AnyReader([bag]) as reader:
        counts = {}
        for connection in reader.connections:
            counts[connection.topic] = counts.get(connection.topic, 0) + connection.msgcount
        types = {c.topic: c.msgtype for c in reader.connections}
    missing = [t for t in CONTRACT if counts.get(t, 0) == 0]
    assert not missing, f'no messages on {missing}'
    assert types[itf.JOINT_STATES.name] == 'sensor_msgs/msg/JointState'
    for name in ('/tf', '/tf_static', '/robot_description'):
        assert counts.get(name, 0) > 0, name
    assert counts[itf.JOINT_STATES.name] > 100 * summary['sim_time_s']  # ~250 Hz, live


def _raw_strings(bag, topic):
    """The std_msgs/String payloads of one topic, read straight from the bag (an oracle)."""
    from rosbags.highlevel import AnyReader

    with AnyReader([bag]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        return [reader.deserialize(raw, c.msgtype).data
                for c, _, raw in reader.messages(connections=connections)]


def test_the_bag_becomes_a_report_with_plots_and_the_right_counts(run):
    summary, bag, out, _ = run
    report = out / 'report'
    result = subprocess.run([sys.executable, '-m', 'space_miner.cli', 'analyze', str(bag),
                             '--out', str(report), '--no-progress'],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    analysis = json.loads((report / 'analysis.json').read_text())
    assert analysis['messages'] > 1000
    plots = [Path(p) for p in analysis['plots'].values()]
    assert plots and all(p.stat().st_size > 2000 for p in plots)
    assert 'data:image/png;base64' in (report / 'report.html').read_text()
    # The report's counts against the bag's own messages and the run's summary.
    modes = _raw_strings(bag, itf.GAIT_MODE.name)
    changes = sum(1 for a, b in zip(modes, modes[1:]) if a != b)
    assert analysis['gait_changes'] == changes
    assert analysis['slips'] == len(_raw_strings(bag, itf.CLAW_SLIPS.name))
    assert analysis['samples'] == len(summary['samples'])
