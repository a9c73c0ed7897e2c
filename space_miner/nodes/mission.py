# SPDX-License-Identifier: Apache-2.0
"""The ``mission`` node: a thin wrapper over core/mission.py's MissionAutopilot.

Parameters: ``config/mission.yaml`` (the only place of the defaults), ranges from
:data:`space_miner.core.mission.PARAM_RANGES`; an out-of-range value given at start raises.
``scenario`` (string, ``''`` = ``config/scenarios/default.yaml``) names the scenario whose
waypoints, sampling sites, target and time limit the autopilot follows. (It is declared
here with ``''`` as its default: ``load_mission_params`` refuses keys it does not know, so
the yaml cannot carry it yet.) Parameters are read once, at start: a later change is
checked against its range and takes effect at the next start.

The autopilot steps on a timer every :data:`STEP_PERIOD_S` of the node's clock (sim time
with ``use_sim_time``, as in the live graph); mission time is counted from the first step,
and every input is stamped with its receive time on the same clock.

Inputs: ``/odom`` (base_link's pose in odom), ``/terrain/global/traversability`` (an
OccupancyGrid in odom, 0 free .. 100 blocked, -1 unknown: :func:`route_map_from_grid`),
``/gait/mode`` and ``/gait/status`` (``cannot_crawl`` and the refusals' reasons),
``/sampling/status`` (JSON: phase, mass_g, reason, site_xy_m).

Outputs: ``/mission/goal`` (PoseStamped in odom, each step while the autopilot has a
goal; a zero quaternion means any heading; when the goal goes away one message with a NaN
position clears it), ``/mission/status`` (latched JSON on change: the core's
``MissionStatus.as_dict`` plus ``sampling_request`` {site_xy_m, target_g} while a
sampling start is pending or running, which the sampler reads for the mission's site, and
``route_length_m``), ``/gait/request`` (``hold`` once the mission ends in hold: on change
and every :data:`~space_miner.core.adapters.GAIT_REQUEST_REPEAT_S`), ``/diagnostics``
at 1 Hz. ``/sampling/start``
and ``/sampling/abort`` are called as a client, asynchronously (a callback never waits):
the answer is logged, and the autopilot asks again when the sequence does not start.
"""

import json
import math

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid, Odometry
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from space_miner import interfaces as itf
from space_miner.core import adapters
from space_miner.core.gait_library import yaw_of
from space_miner.core.gait_params import load_gait_params
from space_miner.core.gait_types import Pose2D
from space_miner.core.mission import (MissionAutopilot, MissionInputs, MissionOutput,
                                      MissionParams, PARAM_RANGES, parse_mission_params,
                                      SamplingView)
from space_miner.core.robot import load_robot_config
from space_miner.core.route import RouteMap
from space_miner.core.scenario import load_scenario
from space_miner.core.terrain_types import GridGeometry
from space_miner.nodes import conversions as cv
from space_miner.nodes.endpoints import make_publisher
from space_miner.nodes.gait_controller import defaults_with_extras, specs_from_ranges
from space_miner.nodes.params import declare_parameters, ParamSpec
from space_miner.nodes.run import run_node

NODE_NAME = 'mission'
CONFIG_FILE = 'mission.yaml'
#: The autopilot's step period on the node's clock [s].
STEP_PERIOD_S = 0.2

SCENARIO_SPEC = ParamSpec('scenario', str,
                          "scenario file to run ('' = config/scenarios/default.yaml)")
PARAMS = specs_from_ranges(dict(PARAM_RANGES), MissionParams, (SCENARIO_SPEC,))


def route_map_from_grid(msg: OccupancyGrid, modes: tuple, stamp_s: float) -> RouteMap:
    """Build the autopilot's RouteMap from ``/terrain/global/traversability``.

    The grid carries the best traversability over the modes (100 x (1 - it)); it stands
    for each of ``modes`` (the modes the body allows). Raises ValueError for a grid that is
    not square, in another frame than odom, or whose data does not match its size.
    """
    info = msg.info
    frame = msg.header.frame_id.lstrip('/')
    if frame not in (itf.ODOM_FRAME, itf.MAP_FRAME):
        raise ValueError(f'global map in frame {frame!r}, expected odom')
    if info.width != info.height or info.width == 0 or \
            len(msg.data) != info.width * info.height:
        raise ValueError(f'global map {info.width} x {info.height} with {len(msg.data)} '
                         'cells: must be square and complete')
    geometry = GridGeometry((float(info.origin.position.x), float(info.origin.position.y)),
                            float(info.resolution), int(info.width))
    return adapters.route_map_from_occupancy(geometry, msg.data, modes, stamp_s)


def pose_msg(goal: Pose2D | None, stamp) -> PoseStamped:
    """Return the ``/mission/goal`` message of a goal (None: the NaN 'no goal' message)."""
    msg = PoseStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = itf.ODOM_FRAME
    if goal is None:
        msg.pose.position.x = msg.pose.position.y = math.nan
        return msg
    msg.pose.position.x, msg.pose.position.y = float(goal.x_m), float(goal.y_m)
    if goal.yaw_rad is None:
        msg.pose.orientation.w = 0.0   # a zero quaternion: any heading
    else:
        msg.pose.orientation.w = math.cos(0.5 * goal.yaw_rad)
        msg.pose.orientation.z = math.sin(0.5 * goal.yaw_rad)
    return msg


class MissionNode(Node):
    """Run the mission autopilot on a timer (see module docstring)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        values = declare_parameters(self, PARAMS, defaults_with_extras(
            CONFIG_FILE, NODE_NAME, PARAMS, {'scenario': ''}))
        self.mission_params = parse_mission_params(
            {k: v for k, v in values.items() if k != 'scenario'}, 'parameters')
        self.scenario = load_scenario(values['scenario'] or None)
        self.autopilot = MissionAutopilot.from_scenario(
            self.mission_params, self.scenario, load_gait_params(), load_robot_config())
        self.modes = tuple(self.autopilot.cost_model.modes)
        self.last_output: MissionOutput | None = None
        self.bad_messages = 0
        self.service_calls: list = []   # (service, success, message), the answers so far
        self._t0_s: float | None = None
        self._pose: Pose2D | None = None
        self._pose_stamp_s = -math.inf
        self._route_map: RouteMap | None = None
        self._gait_mode: str | None = None
        self._cannot_crawl = False
        self._refusals: tuple = ()
        self._sampling: SamplingView | None = None
        self._request: dict | None = None
        self._had_goal = False
        self._last_status = None
        self._gait_requests = adapters.GaitRequestRepeater(idle=None)

        def pub(spec, msg_type):
            return make_publisher(self, spec, msg_type)

        def sub(spec, msg_type, callback):
            self.create_subscription(msg_type, spec.ros_name, callback, spec.qos.to_rclpy())

        self._pub_goal = pub(itf.MISSION_GOAL, PoseStamped)
        self._pub_status = pub(itf.MISSION_STATUS, String)
        self._pub_gait_request = pub(itf.GAIT_REQUEST, String)
        self._pub_diag = pub(itf.DIAGNOSTICS, DiagnosticArray)
        sub(itf.ODOM, Odometry, self._on_odom)
        sub(itf.TERRAIN_GLOBAL, OccupancyGrid, self._on_map)
        sub(itf.GAIT_MODE, String, self._on_gait_mode)
        sub(itf.GAIT_STATUS, String, self._on_gait_status)
        sub(itf.SAMPLING_STATUS, String, self._on_sampling_status)
        self._start_client = self.create_client(Trigger, itf.SAMPLING_START.ros_name)
        self._abort_client = self.create_client(Trigger, itf.SAMPLING_ABORT.ros_name)
        self.create_timer(STEP_PERIOD_S, self._step)
        self.create_timer(1.0 / itf.DIAGNOSTICS.rate_hz, self._publish_diagnostics)
        self.get_logger().info(f'mission {self.scenario.name!r} on {self.scenario.body}: '
                               f'{len(self.autopilot.waypoints)} waypoint(s), '
                               f'{len(self.autopilot.sites)} site(s), routes by '
                               f'{", ".join(self.modes) or "no gait"}')

    def mission_time_s(self) -> float:
        """Return the time since the first step on the node's clock [s] (0 before it)."""
        now = self.get_clock().now().nanoseconds * 1e-9
        if self._t0_s is None:
            return 0.0
        return now - self._t0_s

    # --- inputs --------------------------------------------------------------------------
    def _on_odom(self, msg: Odometry) -> None:
        _, position, quat, _, _, _ = cv.odometry_arrays(msg)
        self._pose = Pose2D(float(position[0]), float(position[1]), yaw_of(quat))
        self._pose_stamp_s = self.mission_time_s()

    def _on_map(self, msg: OccupancyGrid) -> None:
        try:
            self._route_map = route_map_from_grid(msg, self.modes, cv.from_stamp(
                msg.header.stamp))
        except ValueError as err:
            self._bad(f'global map refused: {err}')

    def _on_gait_mode(self, msg: String) -> None:
        self._gait_mode = str(msg.data).strip().lower()

    def _on_gait_status(self, msg: String) -> None:
        try:
            data = json.loads(msg.data)
            self._cannot_crawl = bool(data.get('cannot_crawl', False))
            self._refusals = tuple(str(r.get('reason', '')) for r in data.get('refusals', ()))
            if 'mode' in data:
                self._gait_mode = str(data['mode'])
        except (ValueError, AttributeError, TypeError) as err:
            self._bad(f'gait status refused: {err!r}')

    def _on_sampling_status(self, msg: String) -> None:
        try:
            self._sampling = SamplingView.from_mapping(json.loads(msg.data))
        except (ValueError, TypeError, AttributeError) as err:
            self._bad(f'sampling status refused: {err!r}')

    def _bad(self, text: str) -> None:
        self.bad_messages += 1
        self.get_logger().warning(text, throttle_duration_sec=1.0)

    # --- the step ------------------------------------------------------------------------
    def _step(self) -> None:
        if self._t0_s is None:
            self._t0_s = self.get_clock().now().nanoseconds * 1e-9
        t_s = self.mission_time_s()
        inputs = MissionInputs(pose=self._pose, pose_stamp_s=self._pose_stamp_s,
                               route_map=self._route_map, gait_mode=self._gait_mode,
                               cannot_crawl=self._cannot_crawl, refusals=self._refusals,
                               sampling=self._sampling)
        out = self.autopilot.step(t_s, inputs)
        self.last_output = out
        for event in out.events:
            self.get_logger().info(event)
        stamp = self.get_clock().now().to_msg()
        if out.goal is not None:
            self._pub_goal.publish(pose_msg(out.goal, stamp))
        elif self._had_goal:
            self._pub_goal.publish(pose_msg(None, stamp))
        self._had_goal = out.goal is not None
        if out.sampling_start is not None:
            self._request = {'site_xy_m': [float(v) for v in out.sampling_start.site_xy_m],
                             'target_g': float(out.sampling_start.target_g)}
        elif out.status.phase.value != 'sampling':
            self._request = None
        self._publish_status(out)
        if out.sampling_start is not None:
            self._call(self._start_client, itf.SAMPLING_START.name)
        if out.sampling_abort is not None:
            self.get_logger().warning(f'aborting sampling: {out.sampling_abort}')
            self._call(self._abort_client, itf.SAMPLING_ABORT.name)
        text = self._gait_requests.due(t_s, out.gait_request)
        if text is not None:
            self._pub_gait_request.publish(String(data=text))

    def _call(self, client, name: str) -> None:
        """Call a Trigger service without waiting; the answer is logged when it comes."""
        if not client.service_is_ready():
            self.get_logger().warning(f'{name} not available: the autopilot will ask again')
            self.service_calls.append((name, False, 'service not available'))
            return
        future = client.call_async(Trigger.Request())

        def done(fut) -> None:
            result = fut.result()
            ok = bool(result is not None and result.success)
            text = result.message if result is not None else 'no answer'
            self.service_calls.append((name, ok, text))
            if ok:
                self.get_logger().info(f'{name}: {text}')
            else:
                self.get_logger().warning(f'{name} refused: {text}')

        future.add_done_callback(done)

    def status_dict(self, out: MissionOutput) -> dict:
        """Return the ``/mission/status`` payload of a step."""
        data = out.status.as_dict()
        data['scenario'] = self.scenario.name
        data['total_sample_g'] = round(out.status.total_sample_g, 3)
        data['sampling_request'] = self._request
        route = out.status.route_m
        data['route_length_m'] = round(float(sum(
            math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(route, route[1:]))), 3)
        return data

    def _publish_status(self, out: MissionOutput) -> None:
        data = self.status_dict(out)
        if data != self._last_status:
            self._pub_status.publish(String(data=json.dumps(data, sort_keys=True)))
            if self._last_status is None or data['phase'] != self._last_status['phase']:
                self.get_logger().info(f'mission phase {data["phase"]}'
                                       f'{": " + data["reason"] if data["reason"] else ""}')
            self._last_status = data

    def _publish_diagnostics(self) -> None:
        out = self.last_output
        diag = DiagnosticStatus(name=NODE_NAME, hardware_id='autopilot')
        if out is None:
            diag.level, diag.message = bytes([3]), 'not started'
            values = {}
        else:
            s = out.status
            if s.phase.value == 'hold':
                diag.level, diag.message = bytes([1]), f'hold: {s.reason}'
            elif s.note:
                diag.level, diag.message = bytes([1]), f'{s.phase.value}: {s.note}'
            else:
                diag.level, diag.message = bytes([0]), s.phase.value
            values = {k: v if isinstance(v, str) else json.dumps(v)
                      for k, v in self.status_dict(out).items()}
        values.update({'mission_time_s': f'{self.mission_time_s():.1f}',
                       'map': 'yes' if self._route_map is not None else 'none yet',
                       'bad_messages': str(self.bad_messages)})
        diag.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[diag])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._pub_diag.publish(msg)


def main(args: list | None = None) -> None:
    """Run the mission autopilot (console script ``mission``)."""
    run_node(MissionNode, args)


if __name__ == '__main__':
    main()
