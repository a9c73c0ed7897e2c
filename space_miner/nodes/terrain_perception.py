# SPDX-License-Identifier: Apache-2.0
"""The ``terrain_perception`` node: a thin wrapper over core/terrain.py's TerrainPerception.

Parameters: ``config/terrain_perception.yaml`` (the only place of the defaults); ranges from
:data:`space_miner.core.terrain_params.PARAM_RANGES` (the only place of the ranges),
checked again by :func:`~space_miner.core.terrain_params.parse_terrain_params`.

In: ``/camera/depth/image_raw`` (32FC1 metres or 16UC1 millimetres) and
``/camera/depth/camera_info`` (sensor QoS), ``/odom`` (base_link in odom: a short history is
kept and the pose nearest the image stamp is used, within :data:`MAX_POSE_GAP_S`),
the joint states at the control rate (``/joint_state_broadcaster_low_rate/joint_states``: leg
angles for the self-filter, matched to the image stamp the same way: a leg moving while the
image travels would otherwise be left in the map as a boulder; before any joint state the
legs are taken at their stance), ``/clicked_point`` (a sampling site to
check, in odom or map; map -> odom is the identity the state estimator broadcasts) and
``/sampling/status`` (while a sequence runs, its site is the one checked).

The pipeline runs on each image arrival. Out, stamped with the image stamp, frame ``odom``,
at most at the rates interfaces.py declares (judged on image stamps): ``/terrain/summary``
(JSON of :func:`~space_miner.core.terrain_types.encode_summary`: summary, last frame's
outcome, last site check, grasp candidates per claw leg), ``/terrain/traversability`` and
``/terrain/global/traversability`` (OccupancyGrid cost: 100 x (1 - the best traversability
over roll, walk and crawl), -1 unknown), ``/terrain/graspability`` (100 x graspability),
``/terrain/elevation`` (PointCloud2, one point per seen cell: x, y, z, variance, float32),
``/terrain/grasp_candidates`` (PoseArray, c1's best first, then c2's, c3's),
``/terrain/markers`` (MarkerArray: cells coloured by class, candidates, summary text) and
``/diagnostics`` (1 Hz, on the node's clock). A bad frame never raises: the diagnostics say
what happened (a frame without a pose near its stamp, or no frame for ``stale_after_s``:
STALE; nothing fused yet: STALE with ``no_data``; the sky or an empty image: WARN) and the
maps keep their unknown cells.
"""

import bisect
from collections import deque
from dataclasses import fields
import json
import math
import re

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, PointStamped, Pose, PoseArray
from nav_msgs.msg import OccupancyGrid, Odometry
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2, PointField
from std_msgs.msg import ColorRGBA, String
from visualization_msgs.msg import Marker, MarkerArray

from space_miner import interfaces as itf
from space_miner.core import adapters
from space_miner.core.kinematics import pose_matrix
from space_miner.core.robot import load_robot_config
from space_miner.core.terrain import occupancy_data, TerrainPerception
from space_miner.core.terrain_params import (NODE_NAME, PARAM_RANGES, parse_terrain_params,
                                             TerrainParams)
from space_miner.core.terrain_types import (CameraIntrinsics, encode_summary, FrameResult,
                                            FrameStatus, MapStatus, TerrainClass,
                                            TerrainLayers, TerrainReport, TraverseMode)
from space_miner.nodes import conversions as cv
from space_miner.nodes.endpoints import make_publisher
from space_miner.nodes.params import declare_parameters, load_defaults, ParamSpec
from space_miner.nodes.run import run_node
from space_miner.paths import config_path

CONFIG_FILE = 'terrain_perception.yaml'
#: Odometry and joint states kept for matching image stamps [s].
POSE_HISTORY_S = 2.0
#: An image whose nearest odometry (or leg joint state) is farther than this in time has no
#: pose (no legs to filter out) [s].
MAX_POSE_GAP_S = 0.1
#: Diagnostic levels (diagnostic_msgs/DiagnosticStatus).
DIAG_OK, DIAG_WARN, DIAG_ERROR, DIAG_STALE = 0, 1, 2, 3
#: rviz colours (r, g, b) per class.
CLASS_COLOURS = {TerrainClass.SMOOTH: (0.2, 0.8, 0.2), TerrainClass.REGOLITH: (0.9, 0.8, 0.3),
                 TerrainClass.RUBBLE: (0.8, 0.4, 0.1), TerrainClass.ROCK: (0.5, 0.5, 0.6)}

_UNITS = (('_m2_per_s', 'm^2/s'), ('_per_m', '1/m'), ('_deg', 'deg'), ('_s', 's'),
          ('_m', 'm'))


class VectorParamSpec(ParamSpec):
    """A parameter holding ``length`` numbers, each within [lo, hi] (a list in the yaml)."""

    length: int = 2

    def check(self, value) -> str:
        """Empty when ``value`` is ``length`` finite numbers within range, else why not."""
        try:
            values = [float(v) for v in value]
        except (TypeError, ValueError):
            return f'{self.name} = {value!r}: must be a list of numbers'
        if len(values) != self.length or any(isinstance(v, bool) for v in value):
            return f'{self.name} = {value!r}: must be a list of {self.length} numbers'
        if any(not math.isfinite(v) or v < self.lo or v > self.hi for v in values):
            return f'{self.name} = {value!r}: each within [{self.lo:g}, {self.hi:g}] {self.unit}'
        return ''


def _yaml_comments() -> dict:
    """Each parameter's inline comment in the yaml (the one place its meaning is written)."""
    out = {}
    try:
        lines = config_path(CONFIG_FILE).read_text(encoding='utf-8').splitlines()
    except OSError:
        return out
    for line in lines:
        match = re.match(r'^\s+(\w+):\s*[^#\s][^#]*#\s*(.*)$', line)
        if match:
            out[match.group(1)] = match.group(2).strip()
    return out


def param_specs() -> tuple:
    """Build the node's ParamSpecs from the core's PARAM_RANGES (the one place of ranges)."""
    comments = _yaml_comments()
    kinds = {f.name: f.type for f in fields(TerrainParams)}
    specs = []
    for name, (low, high) in PARAM_RANGES.items():
        unit = next((u for suffix, u in _UNITS if name.endswith(suffix)), '')
        description = comments.get(name, name.replace('_', ' '))
        if kinds[name] is tuple:
            specs.append(VectorParamSpec(name, list, description, unit, float(low),
                                         float(high)))
        elif kinds[name] is int:
            specs.append(ParamSpec(name, int, description, unit, int(low), int(high)))
        else:
            specs.append(ParamSpec(name, float, description, unit, float(low), float(high)))
    return tuple(specs)


PARAMS = param_specs()


class StampedHistory:
    """Values stamped in seconds, kept for ``keep_s``, looked up by the nearest stamp.

    Stamps arrive in order; one earlier than the last clears the history (a replayed bag,
    a reset simulator: time went back).
    """

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self._stamps: deque = deque()
        self._values: deque = deque()

    def __bool__(self) -> bool:
        return bool(self._stamps)

    def __len__(self) -> int:
        return len(self._stamps)

    def latest(self) -> object | None:
        """Return the newest value (None when empty)."""
        return self._values[-1] if self._values else None

    def latest_stamp(self) -> float | None:
        """Return the newest stamp [s] (None when empty)."""
        return self._stamps[-1] if self._stamps else None

    def add(self, stamp_s: float, value: object) -> None:
        """Keep ``value`` at ``stamp_s`` [s], forgetting what is older than ``keep_s``."""
        if self._stamps and stamp_s < self._stamps[-1]:
            self._stamps.clear()
            self._values.clear()
        self._stamps.append(stamp_s)
        self._values.append(value)
        while self._stamps[0] < stamp_s - self.keep_s:
            self._stamps.popleft()
            self._values.popleft()

    def nearest(self, stamp_s: float, max_gap_s: float) -> object | None:
        """Return the value stamped nearest ``stamp_s``; None if none is within ``max_gap_s``."""
        if not self._stamps:
            return None
        i = bisect.bisect_left(self._stamps, stamp_s)
        best = min((j for j in (i - 1, i) if 0 <= j < len(self._stamps)),
                   key=lambda j: abs(self._stamps[j] - stamp_s))
        if abs(self._stamps[best] - stamp_s) > max_gap_s:
            return None
        return self._values[best]


def occupancy_grid_msg(stamp, frame_id: str, geometry, data: np.ndarray) -> OccupancyGrid:
    """Build an OccupancyGrid over a core GridGeometry (``data`` int8, row-major from [0, 0])."""
    msg = OccupancyGrid()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.info.map_load_time = stamp
    msg.info.resolution = float(geometry.resolution_m)
    msg.info.width = msg.info.height = int(geometry.cells)
    msg.info.origin.position.x = float(geometry.origin_xy_m[0])
    msg.info.origin.position.y = float(geometry.origin_xy_m[1])
    msg.info.origin.orientation.w = 1.0
    msg.data = np.asarray(data, dtype=np.int8).tolist()
    return msg


def elevation_cloud_msg(stamp, frame_id: str, layers: TerrainLayers) -> PointCloud2:
    """Build the PointCloud2 of the seen cells: x, y, z [m], variance [m^2], float32."""
    xs, ys = layers.geometry.cell_centres()
    seen = layers.seen
    points = np.zeros(int(np.count_nonzero(seen)),
                      dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('variance', '<f4')])
    points['x'] = xs[seen]
    points['y'] = ys[seen]
    points['z'] = layers.elevation_m[seen]
    points['variance'] = layers.variance_m2[seen]
    msg = PointCloud2()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height = 1
    msg.width = len(points)
    msg.fields = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, name in enumerate(('x', 'y', 'z', 'variance'))]
    msg.is_bigendian = False
    msg.point_step = 16
    msg.row_step = 16 * len(points)
    msg.is_dense = True
    msg.data = points.tobytes()
    return msg


def _pose_msg(position, quat_wxyz) -> Pose:
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
    q = pose.orientation
    q.w, q.x, q.y, q.z = (float(v) for v in quat_wxyz)
    return pose


class TerrainPerceptionNode(Node):
    """Run terrain perception on each depth image (see module docstring)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        values = declare_parameters(self, PARAMS, load_defaults(CONFIG_FILE, NODE_NAME, PARAMS))
        flat = {k: (list(v) if k == 'global_origin_xy_m' else v) for k, v in values.items()}
        self.terrain_params = parse_terrain_params(flat, 'parameters')
        self.robot = load_robot_config()
        self.perception = TerrainPerception(self.terrain_params, self.robot)
        self.intrinsics: CameraIntrinsics | None = None
        self.last_result: FrameResult | None = None
        self.last_report: TerrainReport | None = None
        self.site = None
        self.frames = 0
        self.dropped_frames = 0
        self.bad_messages = 0
        self.errors = 0
        self._poses = StampedHistory(POSE_HISTORY_S)
        self._joints = StampedHistory(POSE_HISTORY_S)
        #: How far the newest joint state is ahead of the image being fused [s] (the last,
        #: and the largest so far): the image's delay, which the self-filter matches.
        self.image_lag_s = math.nan
        self.image_lag_max_s = 0.0
        self._grasps: dict = {}
        self._last_image_arrival = None
        self._last_published: dict = {}

        def pub(msg_type, spec):
            return make_publisher(self, spec, msg_type)

        self._pub_summary = pub(String, itf.TERRAIN_SUMMARY)
        self._pub_trav = pub(OccupancyGrid, itf.TERRAIN_TRAVERSABILITY)
        self._pub_grasp = pub(OccupancyGrid, itf.TERRAIN_GRASPABILITY)
        self._pub_global = pub(OccupancyGrid, itf.TERRAIN_GLOBAL)
        self._pub_elevation = pub(PointCloud2, itf.TERRAIN_ELEVATION)
        self._pub_candidates = pub(PoseArray, itf.TERRAIN_GRASPS)
        self._pub_markers = pub(MarkerArray, itf.TERRAIN_MARKERS)
        self._pub_diag = pub(DiagnosticArray, itf.DIAGNOSTICS)
        self.create_subscription(Image, itf.DEPTH_IMAGE.ros_name, self._on_image,
                                 itf.DEPTH_IMAGE.qos.to_rclpy())
        self.create_subscription(CameraInfo, itf.DEPTH_INFO.ros_name, self._on_info,
                                 itf.DEPTH_INFO.qos.to_rclpy())
        self.create_subscription(Odometry, itf.ODOM.ros_name, self._on_odom,
                                 itf.ODOM.qos.to_rclpy())
        self.create_subscription(JointState, itf.JOINT_STATES_LOW_RATE.ros_name, self._on_joints,
                                 itf.JOINT_STATES_LOW_RATE.qos.to_rclpy())
        self.create_subscription(PointStamped, itf.CLICKED_POINT.ros_name, self._on_clicked,
                                 itf.CLICKED_POINT.qos.to_rclpy())
        self.create_subscription(String, itf.SAMPLING_STATUS.ros_name, self._on_sampling_status,
                                 itf.SAMPLING_STATUS.qos.to_rclpy())
        self.create_timer(1.0 / itf.DIAGNOSTICS.rate_hz, self._on_diagnostics_timer)

    # --- inputs --------------------------------------------------------------------------
    def _on_info(self, msg: CameraInfo) -> None:
        self.intrinsics = CameraIntrinsics(int(msg.width), int(msg.height),
                                           tuple(float(v) for v in msg.k))

    def _on_odom(self, msg: Odometry) -> None:
        stamp_s, position, quat, _, _, _ = cv.odometry_arrays(msg)
        if not (np.all(np.isfinite(position)) and np.all(np.isfinite(quat))
                and np.linalg.norm(quat) > 0.5):
            self.bad_messages += 1
            return
        self._poses.add(stamp_s, pose_matrix(position, quat / np.linalg.norm(quat)))

    def _on_joints(self, msg: JointState) -> None:
        _, q, _, _ = cv.joint_state_arrays(msg, itf.LEG_JOINTS)
        self._joints.add(cv.from_stamp(msg.header.stamp), adapters.joints_by_leg(q))

    def _on_sampling_status(self, msg: String) -> None:
        """Check the site the sampler works on (the mission's or a clicked one)."""
        try:
            data = json.loads(msg.data)
            site = data.get('site_xy_m') if data.get('active') else None
            if site is not None:
                self.site = (float(site[0]), float(site[1]))
        except (ValueError, TypeError, IndexError, AttributeError) as err:
            self.bad_messages += 1
            self.get_logger().warning(f'sampling status refused: {err!r}',
                                      throttle_duration_sec=1.0)

    def _on_clicked(self, msg: PointStamped) -> None:
        frame = msg.header.frame_id.lstrip('/')
        if frame not in ('', itf.ODOM_FRAME, itf.MAP_FRAME):
            self.bad_messages += 1
            self.get_logger().warning(f'clicked point in frame {frame!r} ignored: give it in '
                                      f'{itf.ODOM_FRAME} or {itf.MAP_FRAME}')
            return
        self.site = (msg.point.x, msg.point.y)
        check = self.perception.site_sampleable(self.site)
        self.get_logger().info(f'site ({msg.point.x:.2f}, {msg.point.y:.2f}): '
                               f'{check.reason.value} {check.detail}'.strip())

    def pose_at(self, stamp_s: float) -> np.ndarray | None:
        """base_link's pose in odom nearest to ``stamp_s`` [s], or None if none is close."""
        return self._poses.nearest(stamp_s, MAX_POSE_GAP_S)

    def _on_image(self, msg: Image) -> None:
        self._last_image_arrival = self.get_clock().now()
        stamp_s = cv.from_stamp(msg.header.stamp)
        try:
            self._process(msg, stamp_s)
        except Exception as err:  # the node never dies on a frame; diagnostics say why
            self.errors += 1
            self.last_result = FrameResult(FrameStatus.BAD_INPUT, stamp_s,
                                           detail=f'{type(err).__name__}: {err}')
            self.get_logger().error(f'frame at {stamp_s:.3f} s failed: {err}',
                                    throttle_duration_sec=1.0)

    def _process(self, msg: Image, stamp_s: float) -> None:
        if not self.perception.wants_frame(stamp_s):   # the core's frame rate (frame_period_s)
            self.dropped_frames += 1
            self._publish(stamp_s, self.pose_at(stamp_s), msg.header.stamp)
            return
        try:
            depth = cv.depth_image_array(msg)
        except ValueError as err:
            self.bad_messages += 1
            self.last_result = FrameResult(FrameStatus.BAD_INPUT, stamp_s, detail=str(err))
            return
        base = self.pose_at(stamp_s)
        joints = self._joints.nearest(stamp_s, MAX_POSE_GAP_S)
        newest = self._joints.latest_stamp()
        if newest is not None:
            self.image_lag_s = newest - stamp_s
            self.image_lag_max_s = max(self.image_lag_max_s, self.image_lag_s)
        if self.intrinsics is None:
            self.last_result = FrameResult(FrameStatus.BAD_INPUT, stamp_s,
                                           detail='no CameraInfo received yet')
        elif joints is None and self._joints:
            # The legs' place at the image's time is unknown: fused, a leg would be mapped.
            self.last_result = FrameResult(
                FrameStatus.NO_POSE, stamp_s,
                detail=f'no leg joint state within {MAX_POSE_GAP_S:g} s of the image stamp')
        else:
            self.last_result = self.perception.process_frame(
                depth, '32FC1', self.intrinsics, stamp_s, base, None, joints)
            self.frames += 1
            if self.last_result.status == FrameStatus.NO_POSE:
                self.last_result = FrameResult(
                    FrameStatus.NO_POSE, stamp_s,
                    detail=f'no /odom within {MAX_POSE_GAP_S:g} s of the image stamp')
        self._publish(stamp_s, base, msg.header.stamp)

    # --- outputs -------------------------------------------------------------------------
    def _due(self, key: str, spec: itf.TopicSpec, stamp_s: float) -> bool:
        last = self._last_published.get(key)
        if last is not None and stamp_s >= last and \
                stamp_s - last < 1.0 / spec.rate_hz - 1e-6:
            return False
        self._last_published[key] = stamp_s
        return True

    def _publish(self, stamp_s: float, base: np.ndarray | None, stamp) -> None:
        fused = self.last_result is not None and self.last_result.status == FrameStatus.OK
        layers = self.perception.layers
        frame = itf.ODOM_FRAME
        if fused and self._due('local', itf.TERRAIN_TRAVERSABILITY, stamp_s):
            self._grasps = self.perception.grasp_candidates(base) if base is not None else {}
            best = np.fmax.reduce([layers.traversability[m] for m in TraverseMode])
            self._pub_trav.publish(occupancy_grid_msg(stamp, frame, layers.geometry,
                                                      occupancy_data(best)))
            grasp = np.where(layers.seen, layers.graspability, np.nan)
            self._pub_grasp.publish(occupancy_grid_msg(stamp, frame, layers.geometry,
                                                       occupancy_data(grasp, invert=False)))
            self._pub_elevation.publish(elevation_cloud_msg(stamp, frame, layers))
            poses = PoseArray()
            poses.header.stamp = stamp
            poses.header.frame_id = frame
            poses.poses = [_pose_msg(c.position_m, c.orientation_wxyz)
                           for leg in itf.CLAW_LEGS for c in self._grasps.get(leg, ())]
            self._pub_candidates.publish(poses)
            self._pub_markers.publish(self._markers(stamp, layers))
        if fused and self._due('global', itf.TERRAIN_GLOBAL, stamp_s):
            gmap = self.perception.global_map
            self._pub_global.publish(occupancy_grid_msg(stamp, frame, gmap.geometry,
                                                        adapters.global_occupancy(gmap)))
        if self._due('summary', itf.TERRAIN_SUMMARY, stamp_s):
            self._publish_summary(stamp_s, base)

    def _publish_summary(self, stamp_s: float, base: np.ndarray | None) -> None:
        site = None if self.site is None else self.perception.site_sampleable(self.site)
        result = self.last_result
        self.last_report = TerrainReport(
            self.perception.summary(base, None, stamp_s),
            None if result is None else result.status, '' if result is None else result.detail,
            site, self._grasps)
        self._pub_summary.publish(String(data=encode_summary(self.last_report)))

    def _markers(self, stamp, layers: TerrainLayers) -> MarkerArray:
        out = MarkerArray()
        cells = Marker(ns='terrain_class', id=0, type=Marker.CUBE_LIST, action=Marker.ADD)
        xs, ys = layers.geometry.cell_centres()
        seen = layers.seen
        res = layers.geometry.resolution_m
        cells.scale.x = cells.scale.y = res
        cells.scale.z = 0.005
        cells.pose.orientation.w = 1.0
        for x, y, z, c in zip(xs[seen], ys[seen], layers.elevation_m[seen],
                              layers.terrain_class[seen]):
            cells.points.append(Point(x=float(x), y=float(y), z=float(z)))
            r, g, b = CLASS_COLOURS.get(TerrainClass(int(c)), (0.3, 0.3, 0.3))
            cells.colors.append(ColorRGBA(r=r, g=g, b=b, a=0.6))
        grasps = Marker(ns='grasp_candidates', id=1, type=Marker.SPHERE_LIST,
                        action=Marker.ADD)
        grasps.scale.x = grasps.scale.y = grasps.scale.z = 0.03
        grasps.pose.orientation.w = 1.0
        grasps.color = ColorRGBA(r=0.1, g=0.4, b=1.0, a=1.0)
        for leg in itf.CLAW_LEGS:
            for c in self._grasps.get(leg, ()):
                grasps.points.append(Point(x=c.position_m[0], y=c.position_m[1],
                                           z=c.position_m[2]))
        text = Marker(ns='summary', id=2, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        text.scale.z = 0.08
        text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        text.pose.orientation.w = 1.0
        if self.last_report is not None:
            s = self.last_report.summary
            text.text = (f'under {s.class_under.name.lower()}, ahead '
                         f'{s.class_ahead.name.lower()} ({s.status.value})')
        if self._poses:
            position = self._poses.latest()[:3, 3]
            text.pose.position.x, text.pose.position.y = float(position[0]), float(position[1])
            text.pose.position.z = float(position[2]) + 0.4
        for marker in (cells, grasps, text):
            marker.header.stamp = stamp
            marker.header.frame_id = itf.ODOM_FRAME
            out.markers.append(marker)
        return out

    def diagnostic_status(self) -> DiagnosticStatus:
        """Report the node's health: what became of the last frame, how fresh the map is."""
        now = self.get_clock().now()
        now_s = now.nanoseconds * 1e-9
        result = self.last_result
        p = self.terrain_params
        map_status = self.perception.map_status(
            result.stamp_s if result is not None else now_s)
        silent = self._last_image_arrival is None or \
            (now - self._last_image_arrival).nanoseconds * 1e-9 > p.stale_after_s
        if result is None or silent:
            level = DIAG_STALE
            message = 'stale: no depth images' + ('' if map_status != MapStatus.NO_DATA
                                                  else ' (no_data)')
        elif result.status == FrameStatus.OK:
            level, message = DIAG_OK, 'ok'
        elif result.status == FrameStatus.NO_POSE:
            level = DIAG_STALE
            message = f'stale: {result.status.value}: {result.detail}'
        else:
            level = DIAG_WARN if map_status == MapStatus.OK else DIAG_STALE
            message = (f'{"" if level == DIAG_WARN else "stale: "}{result.status.value}: '
                       f'{result.detail}')
        if map_status == MapStatus.NO_DATA and 'no_data' not in message:
            message += ' (no_data)'
        status = DiagnosticStatus(name=f'{NODE_NAME}: map',
                                  hardware_id='camera_depth_optical_frame')
        status.level = bytes([level])
        status.message = message
        pairs = [('map_status', map_status.value),
                 ('last_frame', '-' if result is None else result.status.value),
                 ('last_frame_stamp_s', '-' if result is None else f'{result.stamp_s:.3f}'),
                 ('valid_pixels', '-' if result is None else str(result.valid_pixels)),
                 ('cells_updated', '-' if result is None else str(result.cells_updated)),
                 ('self_filtered_cells', '-' if result is None else str(result.self_cells)),
                 ('frames', str(self.frames)), ('dropped_frames', str(self.dropped_frames)),
                 ('bad_messages', str(self.bad_messages)),
                 ('errors', str(self.errors)),
                 ('camera_info', 'received' if self.intrinsics is not None else 'missing'),
                 ('odom_history', str(len(self._poses))),
                 ('image_lag_s', f'{self.image_lag_s:.3f}'),
                 ('image_lag_max_s', f'{self.image_lag_max_s:.3f}')]
        status.values = [KeyValue(key=k, value=v) for k, v in pairs]
        return status

    def _on_diagnostics_timer(self) -> None:
        msg = DiagnosticArray(status=[self.diagnostic_status()])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._pub_diag.publish(msg)
        silent = self._last_image_arrival is None or (
            self.get_clock().now() - self._last_image_arrival).nanoseconds * 1e-9 \
            > self.terrain_params.stale_after_s
        if silent:  # readers still hear that the map went stale
            now_s = self.get_clock().now().nanoseconds * 1e-9
            base = self._poses.latest()
            self._publish_summary(now_s, base)


def main(args: list | None = None) -> None:
    """Run terrain perception (console script ``terrain_perception``)."""
    run_node(TerrainPerceptionNode, args)


if __name__ == '__main__':
    main()
