# SPDX-License-Identifier: Apache-2.0
"""The terrain_perception node with real rclpy: a depth image, CameraInfo and /odom in, the
layers out in odom with the image stamp; a missing pose gives STALE diagnostics (no
exception); 16UC1 images are accepted; out-of-range parameters are refused."""

import json
import math
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PointStamped, PoseArray  # noqa: E402
from nav_msgs.msg import OccupancyGrid, Odometry  # noqa: E402
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from terrain_synth import make_terrain, render_depth  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from space_miner import interfaces as itf  # noqa: E402
from space_miner.core.robot import load_robot_config  # noqa: E402
from space_miner.core.terrain import camera_optical_pose  # noqa: E402
from space_miner.core.terrain_types import (CameraIntrinsics, decode_summary,  # noqa: E402
                                            FrameStatus, MapStatus, TerrainClass)
from space_miner.nodes import conversions as cv  # noqa: E402
from space_miner.nodes.terrain_perception import TerrainPerceptionNode  # noqa: E402
from ros_graph import spin_until as _spin_until  # noqa: E402

STANCE_HEIGHT_M = 0.2146
SIZE = (160, 120)
SEED = 301  # the synthetic rock patch of this test (not a tuning seed)


@pytest.fixture(scope='module')
def frame():
    """A rendered rock frame from the nominal stance at the origin: (depth, K, base pose)."""
    robot = load_robot_config()
    hf = make_terrain(TerrainClass.ROCK, SEED)
    base = np.eye(4)
    base[2, 3] = float(hf.height(0.0, 0.0)) + STANCE_HEIGHT_M
    intr = CameraIntrinsics.from_fov(SIZE[0], SIZE[1], robot.camera.hfov_deg)
    depth = render_depth(hf, intr, camera_optical_pose(base, robot.camera), noise_std_m=0.002,
                         seed=SEED, step_m=0.01)
    return depth, np.asarray(intr.k).reshape(3, 3), base


class Client:
    """Publishers of the node's inputs and a record of every output."""

    OUTPUTS = {itf.TERRAIN_SUMMARY: String, itf.TERRAIN_TRAVERSABILITY: OccupancyGrid,
               itf.TERRAIN_GRASPABILITY: OccupancyGrid, itf.TERRAIN_GLOBAL: OccupancyGrid,
               itf.TERRAIN_ELEVATION: PointCloud2, itf.TERRAIN_GRASPS: PoseArray,
               itf.TERRAIN_MARKERS: MarkerArray, itf.DIAGNOSTICS: DiagnosticArray}

    def __init__(self, context):
        self.node = rclpy.create_node('fake_robot', context=context)
        self.got = {spec.name: [] for spec in self.OUTPUTS}
        for spec, msg_type in self.OUTPUTS.items():
            self.node.create_subscription(msg_type, spec.name, self.got[spec.name].append,
                                          spec.qos.to_rclpy())
        self.image = self.node.create_publisher(Image, itf.DEPTH_IMAGE.name,
                                                itf.DEPTH_IMAGE.pub_qos.to_rclpy())
        self.info = self.node.create_publisher(CameraInfo, itf.DEPTH_INFO.name,
                                               itf.DEPTH_INFO.pub_qos.to_rclpy())
        self.odom = self.node.create_publisher(Odometry, itf.ODOM.name,
                                               itf.ODOM.pub_qos.to_rclpy())
        self.clicked = self.node.create_publisher(PointStamped, itf.CLICKED_POINT.name,
                                                  itf.CLICKED_POINT.pub_qos.to_rclpy())
        self.joints = self.node.create_publisher(JointState, itf.JOINT_STATES_LOW_RATE.name,
                                                 itf.JOINT_STATES_LOW_RATE.pub_qos.to_rclpy())

    def send(self, executor, t_s, depth, k, base, encoding='32FC1', odom=True):
        if odom:
            position = base[:3, 3]
            self.odom.publish(cv.odometry_msg(t_s, itf.ODOM_FRAME, itf.BASE_FRAME, position,
                                              (1.0, 0.0, 0.0, 0.0), (0, 0, 0), (0, 0, 0)))
            executor.spin_once(timeout_sec=0.02)
        self.info.publish(cv.camera_info_msg(t_s, 'camera_depth_optical_frame', SIZE[0],
                                             SIZE[1], k))
        executor.spin_once(timeout_sec=0.02)
        if encoding == '16UC1':
            mm = np.where(np.isfinite(depth), np.rint(depth * 1000.0), 0).astype('<u2')
            msg = Image(height=SIZE[1], width=SIZE[0], encoding='16UC1', is_bigendian=0,
                        step=2 * SIZE[0], data=mm.tobytes())
            msg.header.stamp = cv.to_stamp(t_s)
            msg.header.frame_id = 'camera_depth_optical_frame'
        else:
            msg = cv.depth_image_msg(t_s, 'camera_depth_optical_frame', depth)
        self.image.publish(msg)


def _last_diag(client, node_name='terrain_perception'):
    for msg in reversed(client.got[itf.DIAGNOSTICS.name]):
        for status in msg.status:
            if status.name.startswith(node_name):
                return status
    return None


def test_image_in_layers_out_with_frames_and_stamps(graph, frame):
    context, executor, add = graph
    node = add(TerrainPerceptionNode(context=context))
    client = Client(context)
    add(client.node)
    depth, k, base = frame
    t_s = 12.3
    topics = [spec.name for spec in Client.OUTPUTS if spec is not itf.DIAGNOSTICS]
    assert _spin_until(executor, lambda: node.count_subscribers(itf.TERRAIN_SUMMARY.name) > 0
                       and client.image.get_subscription_count() > 0)

    def all_out():
        return all(client.got[name] for name in topics)

    deadline = time.monotonic() + 20.0
    while not all_out() and time.monotonic() < deadline:
        client.send(executor, t_s, depth, k, base)
        _spin_until(executor, all_out, timeout_s=1.0)
    assert all_out(), {name: len(v) for name, v in client.got.items()}
    assert node.last_result.status == FrameStatus.OK
    for name in topics:
        msg = client.got[name][-1]
        headers = [m.header for m in msg.markers] if name == itf.TERRAIN_MARKERS.name \
            else [msg.header] if hasattr(msg, 'header') else []
        for header in headers:
            assert header.frame_id == itf.ODOM_FRAME, name
            assert cv.from_stamp(header.stamp) == pytest.approx(t_s, abs=1e-6), name
    grid = client.got[itf.TERRAIN_TRAVERSABILITY.name][-1]
    params = node.terrain_params
    assert grid.info.width == grid.info.height == params.local_cells
    assert grid.info.resolution == pytest.approx(params.local_resolution_m)
    data = np.asarray(grid.data)
    assert np.count_nonzero(data >= 0) > 300        # seen cells ahead of the camera
    assert np.count_nonzero(data == -1) > 0          # and never-seen cells stay unknown
    cloud = client.got[itf.TERRAIN_ELEVATION.name][-1]
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'variance']
    points = np.frombuffer(bytes(cloud.data), dtype='<f4').reshape(-1, 4)
    assert len(points) == cloud.width == np.count_nonzero(data >= 0)
    assert np.all(np.isfinite(points)) and np.all(points[:, 3] > 0)
    assert abs(np.median(points[:, 2]) - (base[2, 3] - STANCE_HEIGHT_M)) < 0.05
    report = decode_summary(client.got[itf.TERRAIN_SUMMARY.name][-1].data)
    assert report.frame_status == FrameStatus.OK
    assert report.summary.stamp_s == pytest.approx(t_s)
    assert report.summary.class_ahead == TerrainClass.ROCK
    assert set(report.grasp_candidates) == set(itf.CLAW_LEGS)
    poses = client.got[itf.TERRAIN_GRASPS.name][-1]
    assert len(poses.poses) == sum(len(v) for v in report.grasp_candidates.values()) > 0
    # A clicked site in view is judged, and the next summary carries the check.
    site = PointStamped()
    site.header.frame_id = itf.ODOM_FRAME
    site.point.x, site.point.y = 1.0, 0.0
    client.clicked.publish(site)
    assert _spin_until(executor, lambda: node.site is not None)
    client.got[itf.TERRAIN_SUMMARY.name].clear()
    client.send(executor, t_s + 1.0, depth, k, base)
    assert _spin_until(executor, lambda: client.got[itf.TERRAIN_SUMMARY.name])
    report = decode_summary(client.got[itf.TERRAIN_SUMMARY.name][-1].data)
    assert report.site is not None and report.site.xy_m == pytest.approx((1.0, 0.0))
    assert report.site.terrain_class == TerrainClass.ROCK


def test_missing_pose_is_stale_and_never_raises(graph, frame):
    context, executor, add = graph
    node = add(TerrainPerceptionNode(context=context))
    client = Client(context)
    add(client.node)
    depth, k, base = frame
    assert _spin_until(executor, lambda: client.image.get_subscription_count() > 0)
    # No /odom at all: the frame is refused with NO_POSE, diagnostics say STALE.
    deadline = time.monotonic() + 10.0
    while node.last_result is None and time.monotonic() < deadline:
        client.send(executor, 5.0, depth, k, base, odom=False)
        _spin_until(executor, lambda: node.last_result is not None, timeout_s=0.5)
    assert node.last_result.status == FrameStatus.NO_POSE
    assert node.errors == 0
    status = node.diagnostic_status()
    assert status.level == bytes([3]) and 'no_pose' in status.message
    assert 'no_data' in status.message
    assert _spin_until(executor, lambda: _last_diag(client) is not None, timeout_s=5.0)
    assert _last_diag(client).level == bytes([3])
    report = decode_summary(client.got[itf.TERRAIN_SUMMARY.name][-1].data)
    assert report.summary.status == MapStatus.NO_DATA
    assert report.summary.class_under == TerrainClass.UNKNOWN
    assert math.isnan(report.summary.known_fraction_under) or \
        report.summary.known_fraction_under == 0.0
    # Odometry far from the image stamp is no pose either.
    client.odom.publish(cv.odometry_msg(1.0, itf.ODOM_FRAME, itf.BASE_FRAME, base[:3, 3],
                                        (1.0, 0.0, 0.0, 0.0), (0, 0, 0), (0, 0, 0)))
    assert _spin_until(executor, lambda: len(node._poses) == 1)
    node.last_result = None
    client.send(executor, 5.0, depth, k, base, odom=False)
    assert _spin_until(executor, lambda: node.last_result is not None)
    assert node.last_result.status == FrameStatus.NO_POSE
    # An all-NaN frame (the sky) with a pose: a clear status, no exception, unknown cells.
    node.last_result = None
    client.send(executor, 6.0, np.full_like(depth, np.nan), k, base)
    assert _spin_until(executor, lambda: node.last_result is not None)
    assert node.last_result.status == FrameStatus.NO_VALID_DEPTH
    assert not np.any(node.perception.layers.seen)
    assert node.errors == 0 and node.diagnostic_status().level == bytes([3])


def test_stamped_history_gives_the_nearest_value_within_a_gap():
    from space_miner.nodes.terrain_perception import StampedHistory
    history = StampedHistory(keep_s=1.0)
    assert not history and history.nearest(0.0, 1.0) is None
    for t in (0.0, 0.02, 0.04, 0.5, 1.03):
        history.add(t, f'at {t}')
    assert len(history) == 3                       # 0.0 and 0.02 are older than 1 s
    assert history.nearest(0.45, 0.1) == 'at 0.5' and history.nearest(0.1, 0.1) == 'at 0.04'
    assert history.nearest(0.8, 0.1) is None and history.latest() == 'at 1.03'
    history.add(0.3, 'reset')                      # time went back: history starts again
    assert len(history) == 1 and history.nearest(1.03, 0.1) is None


def test_the_self_filter_takes_the_legs_at_the_images_time(graph, frame):
    context, executor, add = graph
    node = add(TerrainPerceptionNode(context=context))
    client = Client(context)
    add(client.node)
    depth, k, base = frame
    assert _spin_until(executor, lambda: client.image.get_subscription_count() > 0
                       and client.joints.get_subscription_count() > 0)
    zeros = [0.0] * len(itf.LEG_JOINTS)

    def send_joints(t_s):
        client.joints.publish(cv.joint_state_msg(t_s, itf.LEG_JOINTS, zeros, zeros, zeros))

    # Legs known only 1 s before the image: where they were in it is unknown, so the frame
    # is refused (fused, a leg that moved meanwhile would be mapped as a boulder).
    send_joints(4.0)
    assert _spin_until(executor, lambda: len(node._joints) == 1)
    deadline = time.monotonic() + 10.0
    while node.last_result is None and time.monotonic() < deadline:
        client.send(executor, 5.0, depth, k, base)
        _spin_until(executor, lambda: node.last_result is not None, timeout_s=0.5)
    assert node.last_result.status == FrameStatus.NO_POSE
    assert 'joint' in node.last_result.detail and node.frames == 0
    # Legs known at the image's time: fused.
    send_joints(6.0)
    assert _spin_until(executor, lambda: len(node._joints) == 2)
    node.last_result = None
    deadline = time.monotonic() + 10.0
    while (node.last_result is None or node.last_result.status != FrameStatus.OK) \
            and time.monotonic() < deadline:
        client.send(executor, 6.0, depth, k, base)
        _spin_until(executor, lambda: node.last_result is not None, timeout_s=0.5)
    assert node.last_result.status == FrameStatus.OK and node.frames >= 1


def test_16uc1_is_accepted(graph, frame):
    context, executor, add = graph
    node = add(TerrainPerceptionNode(context=context))
    client = Client(context)
    add(client.node)
    depth, k, base = frame
    assert _spin_until(executor, lambda: client.image.get_subscription_count() > 0)
    deadline = time.monotonic() + 20.0
    while not client.got[itf.TERRAIN_TRAVERSABILITY.name] and time.monotonic() < deadline:
        client.send(executor, 3.0, depth, k, base, encoding='16UC1')
        _spin_until(executor, lambda: client.got[itf.TERRAIN_TRAVERSABILITY.name], 1.0)
    assert node.last_result.status == FrameStatus.OK
    assert node.diagnostic_status().level == bytes([0])
    grid = client.got[itf.TERRAIN_TRAVERSABILITY.name][-1]
    assert np.count_nonzero(np.asarray(grid.data) >= 0) > 300


def test_bad_parameters_are_refused(graph):
    context, _, add = graph
    with pytest.raises(InvalidParameterValueException):
        TerrainPerceptionNode(context=context, parameter_overrides=[
            Parameter('local_resolution_m', value=5.0)])
    node = add(TerrainPerceptionNode(context=context))
    result = node.set_parameters([Parameter('gate_sigma', value=-1.0)])[0]
    assert not result.successful and 'gate_sigma' in result.reason
    result = node.set_parameters([Parameter('global_origin_xy_m', value=[0.0])])[0]
    assert not result.successful
    assert node.terrain_params.global_origin_xy_m == (-8.0, -8.0)


def test_summary_json_round_trips_with_nan_site_and_grasps():
    from space_miner.core.terrain_types import (encode_summary, GraspCandidate, SiteCheck,
                                                SiteReason, TerrainReport, TerrainSummary,
                                                TraverseMode)
    trav = {TraverseMode.ROLL: 0.0, TraverseMode.WALK: 0.5, TraverseMode.CRAWL: math.nan}
    summary = TerrainSummary(1.5, MapStatus.STALE, TerrainClass.ROCK, trav, 0.8, 0.3,
                             TerrainClass.UNKNOWN, {m: math.nan for m in TraverseMode}, 0.1,
                             math.nan, math.nan)
    grasp = GraspCandidate('c2', (1.0, 2.0, 0.1), (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 0.9,
                           0.8, TerrainClass.RUBBLE, (0.1, 0.2, 0.3))
    site = SiteCheck(False, SiteReason.NO_ANCHOR, TerrainClass.ROCK, (1.0, 2.0), 'why', 1)
    report = TerrainReport(summary, FrameStatus.NO_POSE, 'no odom', site, {'c2': (grasp,)})
    text = encode_summary(report)
    assert 'NaN' not in text
    back = decode_summary(text)
    assert back.summary.status == MapStatus.STALE
    assert back.summary.traversability_under[TraverseMode.WALK] == 0.5
    assert math.isnan(back.summary.traversability_under[TraverseMode.CRAWL])
    assert math.isnan(back.summary.max_step_ahead_m)
    assert back.site == site and back.frame_status == FrameStatus.NO_POSE
    assert back.grasp_candidates['c2'][0] == grasp
    with pytest.raises(ValueError):
        decode_summary('{"schema": "other"}')
    with pytest.raises(ValueError):
        decode_summary(text.replace('"under"', '"below"'))


def test_the_running_sampling_site_is_checked_and_bad_status_is_refused(graph):
    """The sampler's site (from /sampling/status while a sequence runs) is the one checked;
    a malformed status is counted and logged, and the site it would have set is kept."""
    context, executor, add = graph
    node = add(TerrainPerceptionNode(context=context))
    client = Client(context)
    add(client.node)
    status = client.node.create_publisher(String, itf.SAMPLING_STATUS.name,
                                          itf.SAMPLING_STATUS.pub_qos.to_rclpy())
    status.publish(String(data=json.dumps({'phase': 'anchor', 'active': True,
                                           'site_xy_m': [1.5, -0.25]})))
    assert _spin_until(executor, lambda: node.site == (1.5, -0.25))
    for bad in ('{not json', json.dumps({'active': True, 'site_xy_m': ['x']})):
        before = node.bad_messages
        status.publish(String(data=bad))
        assert _spin_until(executor, lambda: node.bad_messages == before + 1)
        assert node.site == (1.5, -0.25)
    # An idle sequence's last site is not re-checked over a newer clicked one.
    node.site = (0.5, 0.5)
    status.publish(String(data=json.dumps({'phase': 'done', 'active': False,
                                           'site_xy_m': [1.5, -0.25]})))
    executor.spin_once(timeout_sec=0.2)
    assert node.site == (0.5, 0.5)
