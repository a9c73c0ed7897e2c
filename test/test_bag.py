# SPDX-License-Identifier: Apache-2.0
"""Bag reading, mission analysis and reports on synthetic bags written with rosbags.

The bags hold known content (space_miner.bag.synth): the report must name the right number
of samples, gait changes and slips, from MCAP and sqlite3 storage; a bag with topics
missing says what is missing; unknown types are listed and skipped; a bag cut short is read
up to its last whole record; a corrupt file is a clear error naming it.
"""

import json
import math
import shutil

import numpy as np
import pytest

from space_miner import interfaces as itf
from space_miner.bag import report
from space_miner.bag.reader import BagError, open_bag, repair
from space_miner.bag.synth import MissionPlan, write_mission_bag
from space_miner.core.analysis import analyze, claw_records, MissionStreams, Series

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _plan(**kw):
    base = dict(duration_s=30.0,
                gait_modes=((0.0, 'anchor'), (8.0, 'crawl'), (16.0, 'anchor'), (24.0, 'crawl')),
                slips=((10.0, 'c2'), (20.0, 'c1')),
                samples=((17.0, 21.0, 40.0), (25.0, 29.0, 30.0)),
                terrain=((0.0, 2), (9.0, 3), (18.0, 'rock')))
    base.update(kw)
    return MissionPlan(**base)


@pytest.fixture(scope='module')
def mission(tmp_path_factory):
    path = tmp_path_factory.mktemp('bags') / 'mission'
    plan = write_mission_bag(path, _plan())
    return path, plan


def test_report_names_samples_gait_changes_and_slips_with_nonempty_plots(mission, tmp_path):
    path, plan = mission
    assert report.main([str(path), '--out', str(tmp_path / 'r'), '--body', 'bennu',
                        '--no-progress']) == 0
    summary = json.loads((tmp_path / 'r' / 'analysis.json').read_text())
    assert summary['gait_changes'] == 3
    assert summary['gait_modes'] == ['anchor', 'crawl', 'anchor', 'crawl']
    assert summary['slips'] == 2 and summary['slip_claws'] == ['c2', 'c1']
    assert summary['samples'] == 2 and summary['samples_collected'] == 2
    assert [round(r['collected_g']) for r in summary['sample_runs']] == [40, 30]
    assert summary['final_mass_g'] == pytest.approx(70.0, abs=0.5)
    assert summary['messages'] == sum(plan.counts.values())
    # holding 3 x 160 N (no slip while drilling) against the 50 N feed force
    assert summary['min_margin'] == pytest.approx(480.0 / 50.0)
    assert summary['anomalies'] == {'slip': 2}
    assert summary['escape_velocity_m_s'] == pytest.approx(0.20)
    assert summary['terrain_time_s'].keys() == {'regolith', 'rubble', 'rock'}
    assert summary['terrain_time_s']['rubble'] == pytest.approx(9.0, abs=0.01)
    assert summary['gait_time_s']['crawl'] == pytest.approx(14.0, abs=0.02)
    md = (tmp_path / 'r' / 'summary.md').read_text()
    assert 'gait changes: **3**' in md and 'slips: **2**' in md and 'samples: **2**' in md
    html = (tmp_path / 'r' / 'report.html').read_text()
    assert html.count('data:image/png;base64,') == 6
    for name in ('timeline', 'claws', 'margin', 'mass', 'speed', 'rates'):
        png = (tmp_path / 'r' / 'plots' / f'{name}.png').read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 5000, name


def test_rates_and_latencies_come_from_header_stamps(mission):
    path, _plan_ = mission
    _bag, a = report.analyze_bag(path)
    rates = {r.topic: r for r in a.rates}
    js = rates[itf.JOINT_STATES.name]
    assert js.rate_hz == pytest.approx(250.0, rel=0.01)
    assert js.stamp_rate_hz == pytest.approx(250.0, rel=0.01)
    assert js.nominal_hz == 250.0
    # synthetic bags are received at their stamp (mapped through /clock)
    assert abs(js.latency_median_ms) < 5.0
    assert rates[itf.CLOCK.name].rate_hz == pytest.approx(100.0, rel=0.01)
    assert a.time_base.startswith('simulated time')


def test_sqlite3_bag_gives_the_same_report(tmp_path, mission):
    path, _ = mission
    plan = write_mission_bag(tmp_path / 'sq', _plan(), storage='sqlite3')
    assert list((tmp_path / 'sq').glob('*.db3'))
    bag = open_bag(tmp_path / 'sq')
    assert bag.storage == 'sqlite3' and bag.message_count == sum(plan.counts.values())
    _b, a = report.analyze_bag(tmp_path / 'sq')
    _b, ref = report.analyze_bag(path)
    assert (a.gait_changes, len(a.slips), len(a.samples)) == (3, 2, 2)
    assert a.min_margin == pytest.approx(ref.min_margin)
    # a single .db3 file opens too
    _b, a2 = report.analyze_bag(next((tmp_path / 'sq').glob('*.db3')))
    assert a2.gait_changes == 3


def test_missing_topics_are_named_in_the_report(tmp_path):
    omit = (itf.GAIT_MODE.name, itf.GAIT_STATUS.name, itf.CLAW_STATE.name,
            itf.CLAW_SLIPS.name, itf.SAMPLING_STATUS.name)
    write_mission_bag(tmp_path / 'm', _plan(omit=omit))
    assert report.main([str(tmp_path / 'm'), '--out', str(tmp_path / 'r'),
                        '--no-progress']) == 0
    summary = json.loads((tmp_path / 'r' / 'analysis.json').read_text())
    for name in omit:
        assert name in summary['missing_topics']
    assert 'gait mode timeline' in summary['missing_sections']
    assert 'sampling phases and samples' in summary['missing_sections']
    assert summary['gait_changes'] == 0 and summary['samples'] == 0
    # without claw topics, grip state is derived from the measured squeeze
    assert summary['grip_sources'] == {c: 'derived from squeeze' for c in itf.CLAW_LEGS}
    md = (tmp_path / 'r' / 'summary.md').read_text()
    assert '## What is missing' in md
    assert 'gait mode timeline: no data (needs /gait/mode or /gait/status)' in md
    # slips still found: the measured squeeze fell below half the commanded one
    assert summary['slips'] == 2
    for name in ('timeline', 'claws', 'margin'):
        assert (tmp_path / 'r' / 'plots' / f'{name}.png').read_bytes().startswith(PNG_MAGIC)


def test_unknown_types_are_listed_and_skipped(tmp_path):
    write_mission_bag(tmp_path / 'u', _plan(extra_unknown=True, duration_s=12.0))
    _b, a = report.analyze_bag(tmp_path / 'u')
    assert a.unknown_types == [('/weird', 'weird_msgs/msg/Weird')]
    assert (a.gait_changes, len(a.slips), len(a.samples)) == (1, 1, 0)
    md = report.markdown_summary(a, 'u')
    assert 'unknown message type `weird_msgs/msg/Weird` on `/weird`: listed and skipped' in md


def test_margin_below_two_is_an_anomaly(tmp_path):
    write_mission_bag(tmp_path / 'mb', _plan(margin_break=(5.0, 6.0, 300.0), duration_s=9.0))
    _b, a = report.analyze_bag(tmp_path / 'mb')
    assert a.min_margin == pytest.approx(480.0 / 300.0)
    kinds = [x for x in a.anomalies if x.kind == 'margin_below_2']
    assert len(kinds) == 1 and kinds[0].t_s == pytest.approx(5.0, abs=0.06)


@pytest.mark.parametrize('keep_metadata', [False, True])
def test_a_bag_cut_short_is_read_up_to_its_last_whole_record(mission, tmp_path, keep_metadata):
    path, plan = mission
    cut = tmp_path / 'cut'
    cut.mkdir()
    src = next(path.glob('*.mcap'))
    data = src.read_bytes()
    offset = int(len(data) * 0.7) + 7  # mid-chunk, not on a record boundary
    (cut / src.name).write_bytes(data[:offset])
    if keep_metadata:
        shutil.copy(path / 'metadata.yaml', cut / 'metadata.yaml')
    bag = open_bag(cut)
    assert bag.truncated
    total = sum(plan.counts.values())
    assert 0.5 * total < bag.message_count < 0.75 * total
    stamps = [s for _t, s, _d in bag.messages()]
    assert len(stamps) == bag.message_count
    assert all(b >= a for a, b in zip(stamps, stamps[1:]))
    assert any('last whole record' in w or 'cut' in w for w in bag.warnings)
    _b, a = report.analyze_bag(cut)
    assert 16.0 < a.end_s < 0.75 * plan.duration_s
    assert a.gait_changes == 2  # anchor -> crawl -> anchor before the cut
    # repair writes a whole bag that rosbags' own reader opens
    n = repair(cut, tmp_path / 'fixed')
    from rosbags.rosbag2 import Reader
    with Reader(tmp_path / 'fixed') as reader:
        assert reader.message_count == n == bag.message_count


def test_a_bag_cut_inside_its_first_chunk_says_so(tmp_path, mission):
    path, _ = mission
    src = next(path.glob('*.mcap'))
    (tmp_path / 'tiny').mkdir()
    (tmp_path / 'tiny' / src.name).write_bytes(src.read_bytes()[:5000])
    with pytest.raises(BagError, match='no whole record'):
        open_bag(tmp_path / 'tiny')


@pytest.mark.parametrize('name,content', [
    ('junk.mcap', b'this is not a bag at all' * 50),
    ('junk.db3', b'SQLite format 3\x00' + b'\xff' * 4000),
    ('empty.mcap', b''),
])
def test_a_corrupt_file_is_a_clear_error_naming_it(tmp_path, capsys, name, content):
    bag_dir = tmp_path / 'bad'
    bag_dir.mkdir()
    (bag_dir / name).write_bytes(content)
    with pytest.raises(BagError) as err:
        open_bag(bag_dir)
    assert name in str(err.value)
    assert report.main([str(bag_dir), '--no-progress']) == 2
    out = capsys.readouterr()
    assert name in out.err and 'Traceback' not in out.err + out.out


def test_not_a_bag_at_all(tmp_path, capsys):
    with pytest.raises(BagError, match='no such bag'):
        open_bag(tmp_path / 'nothing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BagError, match='no .mcap or .db3'):
        open_bag(tmp_path / 'empty')
    assert report.main([str(tmp_path / 'empty'), '--no-progress']) == 2


def test_corrupt_metadata_falls_back_to_the_storage_file(mission, tmp_path):
    path, plan = mission
    shutil.copytree(path, tmp_path / 'b')
    (tmp_path / 'b' / 'metadata.yaml').write_text('{{{ not yaml')
    bag = open_bag(tmp_path / 'b')
    assert bag.message_count == sum(plan.counts.values())


# --- the pure analysis, table-driven ----------------------------------------------------------

@pytest.mark.parametrize('payload,expected', [
    ({'claws': {'c1': {'mode': 'holding'}}}, ['c1']),
    ({'c2': {'mode': 'open'}, 'c3': {'mode': 'holding'}}, ['c2', 'c3']),
    ([{'claw': 'c3', 'mode': 'slipping'}], ['c3']),
    ({'states': [{'claw': 'c1'}, {'claw': 'zz'}]}, ['c1']),
    ('not json', []),
    (42, []),
])
def test_claw_state_payloads_are_read_tolerantly(payload, expected):
    assert sorted(claw_records(payload)) == expected


def _streams(texts, floats=None):
    s = MissionStreams()
    s.texts = texts
    s.counts = {k: len(v) for k, v in texts.items()}
    for k, v in (floats or {}).items():
        s.floats[k] = v
        s.counts[k] = len(v.t_s)
    return s


def test_gait_mode_plain_or_json_and_refusals_from_status():
    texts = {itf.GAIT_MODE.name: [(0.0, 'anchor'), (1.0, '{"mode": "crawl"}'), (2.0, 'crawl'),
                                  (3.0, 'Mode.HOLD')],
             itf.GAIT_STATUS.name: [(1.5, json.dumps({'mode': 'crawl', 'refusals': [
                 {'subject': 'roll', 'reason': 'requires grip'}]})),
                 (1.6, json.dumps({'mode': 'crawl', 'refusals': [
                     {'subject': 'roll', 'reason': 'requires grip'}]})),
                 (1.7, '{broken json')]}
    a = analyze(_streams(texts))
    assert [iv.label for iv in a.gait_timeline] == ['anchor', 'crawl', 'hold']
    assert a.gait_changes == 2
    refused = [x for x in a.anomalies if x.kind == 'refused']
    assert len(refused) == 1 and refused[0].detail == 'requires grip'
    assert a.bad_payloads == {itf.GAIT_STATUS.name: 1}


def test_margin_nan_without_load_and_zero_holding_is_margin_zero():
    state = json.dumps({'claws': {c: {'mode': 'holding', 'verified_holding_n': 0.0}
                                  for c in itf.CLAW_LEGS}})
    texts = {itf.CLAW_STATE.name: [(0.0, state), (1.0, state)]}
    a = analyze(_streams(texts))
    assert a.min_margin is None
    load = Series(np.array([0.5]), np.array([[20.0]]))
    a = analyze(_streams(texts, {itf.SAMPLING_LOAD.name: load}))
    assert a.min_margin == 0.0
    assert [x.kind for x in a.anomalies] == ['margin_below_2']


def test_empty_streams_give_an_empty_analysis():
    a = analyze(MissionStreams())
    assert a.duration_s == 0.0 and a.gait_changes == 0 and not a.samples
    assert set(a.missing_sections) == set(report.SECTION_TOPICS)
    assert math.isfinite(a.start_s)


# --- offline regression through the cores -------------------------------------------------------

def test_through_gait_compares_modes_and_commands_and_merges_differences(tmp_path):
    from space_miner.bag.replay import main as replay_main, through_gait
    write_mission_bag(tmp_path / 'g', _plan(duration_s=6.0,
                                            gait_modes=((0.0, 'anchor'), (3.0, 'crawl'))))
    with open_bag(tmp_path / 'g') as bag:
        rep = through_gait(bag)
    assert rep.steps == pytest.approx(6.0 * itf.LEG_COMMANDS.rate_hz, abs=2)
    assert rep.seq['mode'] >= rep.steps - 1  # every step after the first recorded mode
    assert not any('/claw_controller/state' in n for n in rep.notes)
    spans = rep.spans()
    assert sum(s[5] for s in spans) == len(rep.differences)
    # differences merge into spans of consecutive steps
    assert len(spans) < len(rep.differences) or not rep.differences
    assert replay_main([str(tmp_path / 'g'), '--through', 'gait',
                        '--json', str(tmp_path / 'g.json')]) == 0
    assert json.loads((tmp_path / 'g.json').read_text())['steps'] == rep.steps


def test_through_terrain_says_what_is_missing(tmp_path, capsys):
    from space_miner.bag.replay import main as replay_main
    write_mission_bag(tmp_path / 't', _plan(duration_s=3.0))
    assert replay_main([str(tmp_path / 't'), '--through', 'terrain']) == 0
    out = capsys.readouterr().out
    assert '/camera/depth/image_raw is not in the bag' in out
    assert replay_main([str(tmp_path / 'nothing'), '--through', 'terrain']) == 2


def test_latency_pairs_each_message_with_its_own_stamp_when_stamps_repeat():
    """Several publishers of one topic (/diagnostics) share stamps; rates must not break."""
    import numpy as np

    from space_miner.core import analysis

    recv = np.array([1.00, 1.01, 1.02, 2.00, 2.02, 2.03])  # no /clock: receive time base
    stamp = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    streams = analysis.MissionStreams()
    streams.stamps[itf.DIAGNOSTICS.name] = (recv, stamp)
    clock = analysis._Clock(streams)
    rates = analysis._rates(streams, clock, {itf.DIAGNOSTICS.name})
    assert len(rates) == 1
    assert rates[0].latency_max_ms == pytest.approx(30.0)
    assert rates[0].latency_median_ms == pytest.approx(15.0)


# --- a robot in a namespace (issue 29) -------------------------------------------------------

@pytest.fixture(scope='module')
def namespaced(tmp_path_factory):
    """The same short mission recorded in the root namespace and under ``/r1``."""
    out = tmp_path_factory.mktemp('ns')
    plan = dict(duration_s=8.0, gait_modes=((0.0, 'anchor'), (3.0, 'crawl')),
                slips=((4.0, 'c2'),), samples=((5.0, 7.0, 20.0),))
    write_mission_bag(out / 'root', _plan(**plan))
    write_mission_bag(out / 'r1', _plan(**plan, namespace='/r1'))
    return out


def test_a_bag_recorded_under_a_namespace_is_analysed_like_any_other(namespaced, capsys):
    with open_bag(namespaced / 'r1') as bag, open_bag(namespaced / 'root') as root:
        recorded = [bag.recorded_name(t) for t in bag.topics]
        assert bag.namespace == '/r1' and root.namespace == ''
        assert set(bag.topics) == set(root.topics)      # the root names, as declared
        assert itf.JOINT_STATES.resolved('/r1') in recorded and '/clock' in recorded
        assert all(t.startswith('/r1/') or t == '/clock' for t in recorded)
    reports = {}
    for name in ('root', 'r1'):
        assert report.main([str(namespaced / name), '--out', str(namespaced / f'{name}_r'),
                            '--body', 'bennu', '--no-progress']) == 0
        reports[name] = json.loads((namespaced / f'{name}_r' / 'analysis.json').read_text())
    r1 = reports['r1']
    assert r1.pop('namespace') == '/r1' and 'namespace' not in reports['root']
    for key in ('bag', 'plots'):
        r1.pop(key), reports['root'].pop(key)
    assert r1 == reports['root']
    assert r1['gait_changes'] == 1 and r1['slips'] == 1 and r1['samples'] == 1
    assert '(robot /r1)' in (namespaced / 'r1_r' / 'summary.md').read_text()
    from space_miner.bag.reader import main as reader_main
    assert reader_main([str(namespaced / 'r1')]) == 0
    listing = capsys.readouterr().out
    assert 'robot namespace: /r1' in listing and '/r1/claw_controller/state' in listing


def test_a_namespaced_bag_goes_through_the_cores_like_any_other(namespaced, tmp_path):
    from space_miner.bag.replay import main as replay_main, through_gait
    reps = {}
    for name in ('root', 'r1'):
        with open_bag(namespaced / name) as bag:
            reps[name] = through_gait(bag)
    assert reps['r1'].steps == reps['root'].steps > 0
    assert reps['r1'].differences == reps['root'].differences
    assert reps['r1'].notes == reps['root'].notes
    assert replay_main([str(namespaced / 'r1'), '--through', 'gait', '--json',
                        str(tmp_path / 'g.json')]) == 0
    assert json.loads((tmp_path / 'g.json').read_text())['steps'] == reps['root'].steps


def test_repair_keeps_a_namespaced_bag_under_its_namespace(namespaced, tmp_path):
    n = repair(namespaced / 'r1', tmp_path / 'fixed')
    with open_bag(tmp_path / 'fixed') as fixed, open_bag(namespaced / 'r1') as bag:
        assert n == bag.message_count
        assert fixed.namespace == '/r1'          # inferred from the names: no run info
        assert {fixed.recorded_name(t) for t in fixed.topics} == \
            {bag.recorded_name(t) for t in bag.topics}


def _two_robot_bag(path):
    """A bag of two robots, /r1 and /r2, each with its gait mode and odometry, one clock."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_JAZZY)
    string = store.types['std_msgs/msg/String']
    with Writer(path, version=9) as writer:
        for k, ns in enumerate(('/r1', '/r2')):
            conn = writer.add_connection(itf.GAIT_MODE.resolved(ns), itf.GAIT_MODE.msg_type,
                                         typestore=store)
            writer.add_connection(itf.ODOM.resolved(ns), itf.ODOM.msg_type, typestore=store)
            writer.write(conn, 1_000 + k, bytes(store.serialize_cdr(
                string(data=('crawl', 'anchor')[k]), 'std_msgs/msg/String')))


def test_a_bag_of_two_robots_needs_one_named_and_gives_that_ones_topics(tmp_path, capsys):
    _two_robot_bag(tmp_path / 'two')
    with pytest.raises(BagError, match=r'several robots: /r1 \(2 topics\), /r2 \(2 topics\)'):
        open_bag(tmp_path / 'two')
    with pytest.raises(BagError, match='no topic of a robot in namespace /r3'):
        open_bag(tmp_path / 'two', namespace='r3')
    with open_bag(tmp_path / 'two', namespace='r2') as bag:
        assert set(bag.topics) == {itf.GAIT_MODE.name, itf.ODOM.name}
        (topic, _stamp, data), = list(bag.messages())
        assert topic == itf.GAIT_MODE.name and b'anchor' in data
        assert any('outside namespace /r2 left out' in w for w in bag.warnings)
    assert report.main([str(tmp_path / 'two'), '--no-progress']) == 2
    assert 'several robots' in capsys.readouterr().err
    assert report.main([str(tmp_path / 'two'), '--namespace', '/r1', '--no-progress',
                        '--out', str(tmp_path / 'rep')]) == 0
    assert json.loads((tmp_path / 'rep' / 'analysis.json').read_text())['gait_modes'] == \
        ['crawl']
