# SPDX-License-Identifier: Apache-2.0
"""The ``gait_controller`` node: a thin wrapper over core/gait.py's GaitController.

Parameters: ``config/gait_controller.yaml`` (the only place of the defaults), ranges from
:data:`space_miner.core.gait_params.PARAM_RANGES` (the only place of the ranges), checked
again by :func:`~space_miner.core.gait_params.parse_gait_params`: an out-of-range value
given at start raises, so the node never comes up half-configured. ``scenario`` (string,
``''`` = ``config/scenarios/default.yaml``) names the scenario whose body the robot stands
on (``requires_grip``, effective gravity, escape velocity: the selector's physics).
Parameters are read once, at start: a later change is checked against its range and takes
effect at the next start.

The control loop runs on the arrival of the joint states at the control rate
(``/joint_state_broadcaster_low_rate/joint_states``, 50 Hz): one step per arrival, at least
half a period apart (:class:`~space_miner.nodes.step_gate.StepGate`; the control period
:data:`CONTROL_PERIOD_S` is the declared rate of ``/leg_position_controller/commands``; the
gait parameters carry no period of their own). Inputs: ``/odom``,
``/claw_controller/state`` (JSON of core/claw_codec.py, adapted by
:func:`~space_miner.core.claw_codec.claw_statuses`), the wrist wrenches at the control rate
``/<c>_ft_broadcaster_low_rate/wrench`` (turned from ``<c>_ft_link`` into base_link by
:func:`~space_miner.core.adapters.wrist_force_in_base`, the harness's function),
``/terrain/summary`` (JSON of core/terrain_types.py, see
:func:`space_miner.core.adapters.terrain_for_gait`),
``/cmd_vel``, ``/goal_pose`` (in ``odom`` or ``map``, the identity here), ``/gait/request``,
``/estop``, ``/mission/goal`` (the autopilot's goal: a zero quaternion means any heading, a
non-finite position clears it) and ``/sampling/load`` (the sampler's reaction [N]).

Outputs, each step: ``/leg_position_controller/commands`` (18, LEG_JOINTS order, clamped
to the joint limits), ``/wheel_velocity_controller/commands`` (3, clamped to the wheel
limit), ``/claw_controller/requests`` (JSON of
:func:`~space_miner.core.gait_types.encode_claw_requests`); on change: ``/gait/mode``
(latched) and ``/gait/status`` (latched JSON: mode, stage, command source, refusals with
reasons, cannot_crawl, load limit, and ``walking_stance``, the legs in stance while walking,
published at once when it changes: what the harness hands the estimator);
``/gait/markers`` (text: the mode above the robot and each claw's state beside its foot,
frame ``base_link``) and ``/diagnostics``, both on timers.

Time. Every input is stamped with its **receive time on the node's clock** (sim time when
``use_sim_time`` is set, else system time), and the control step runs at the receive time
of the joint states. The header stamps are not used for timing: rviz and teleop stamp
their messages with wall time while the stack may run on sim time, so the deadman of
``/cmd_vel`` and ``/goal_pose`` and the staleness of the critical inputs (joint states,
odometry, wrist wrenches) are all judged on one clock. A stale critical input makes the
core hold (it compares these receive times with the step time).
"""

from dataclasses import fields
import json
import math

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, Twist, WrenchStamped
from nav_msgs.msg import Odometry
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray, String
from visualization_msgs.msg import Marker, MarkerArray

from space_miner import interfaces as itf
from space_miner.core import adapters, claw_codec
from space_miner.core.gait import GaitController
from space_miner.core.gait_params import GaitParams, PARAM_RANGES, parse_gait_params
from space_miner.core.gait_types import (BodyInfo, BodyTwist, encode_claw_requests, GaitInputs,
                                         GaitOutput, Mode, OdomState, OperatorInput, Pose2D,
                                         TerrainSummary)
from space_miner.core.gait_library import yaw_of
from space_miner.core.robot import load_robot_config
from space_miner.core.scenario import load_scenario
from space_miner.core.terrain_types import decode_summary
from space_miner.nodes import conversions as cv
from space_miner.nodes.endpoints import make_publisher
from space_miner.nodes.params import declare_parameters, load_defaults, ParamSpec
from space_miner.nodes.run import run_node
from space_miner.nodes.step_gate import StepGate
from space_miner.paths import config_path

NODE_NAME = 'gait_controller'
CONFIG_FILE = 'gait_controller.yaml'
#: The control period [s]: the declared rate of the leg commands (and of the low-rate joint
#: states the step runs on).
CONTROL_PERIOD_S = 1.0 / itf.LEG_COMMANDS.rate_hz
#: Frames a goal may be given in (map -> odom is the identity: no global localisation here).
GOAL_FRAMES = (itf.ODOM_FRAME, itf.MAP_FRAME)
#: /gait/status changes other than of the mode are published at most this often [s].
STATUS_MIN_PERIOD_S = 0.1

_UNITS = (('_n_per_s', 'N/s'), ('_rad_s2', 'rad/s^2'), ('_m_s2', 'm/s^2'), ('_rad_s', 'rad/s'),
          ('_m_s', 'm/s'), ('_per_s', '1/s'), ('_deg', 'deg'), ('_rad', 'rad'), ('_n', 'N'),
          ('_s', 's'), ('_m', 'm'))


def unit_of(name: str) -> str:
    """Return the unit a parameter's name carries in its suffix ('' for none)."""
    return next((u for suffix, u in _UNITS if name.endswith(suffix)), '')


def specs_from_ranges(ranges: dict, dataclass_type: type, extra: tuple = ()) -> tuple:
    """Build ParamSpecs from a core's ``PARAM_RANGES`` and its params dataclass.

    Numbers take their range from ``ranges`` and int or float from the dataclass field;
    bool and str fields (no range) keep their type; ``extra`` specs are appended.
    """
    specs = []
    for f in fields(dataclass_type):
        kind = {'int': int, 'float': float, 'bool': bool, 'str': str}.get(
            f.type if isinstance(f.type, str) else f.type.__name__, float)
        low, high = ranges.get(f.name, (None, None))
        specs.append(ParamSpec(f.name, kind, f.name.replace('_', ' '), unit_of(f.name),
                               low, high))
    return tuple(specs) + tuple(extra)


def defaults_with_extras(config_file: str, node_name: str, specs: tuple,
                         fallbacks: dict) -> dict:
    """Load defaults from ``config/<config_file>``; keys absent there take ``fallbacks``.

    The extra parameters (e.g. ``scenario``) are read from the file when it has them, so
    the file stays the place of the defaults once it carries them.
    """
    import yaml
    with open(config_path(config_file), encoding='utf-8') as handle:
        values = (yaml.safe_load(handle) or {}).get(node_name, {}).get('ros__parameters', {})
    present = tuple(s for s in specs if s.name not in fallbacks or s.name in values)
    out = load_defaults(config_file, node_name, present)
    for name, value in fallbacks.items():
        out.setdefault(name, value)
    return out


SCENARIO_SPEC = ParamSpec('scenario', str,
                          "scenario file whose body the robot is on ('' = the shipped default)")
PARAMS = specs_from_ranges(dict(PARAM_RANGES), GaitParams, (SCENARIO_SPEC,))


def pose2d_from_msg(msg: PoseStamped) -> Pose2D:
    """Return the planar pose of a PoseStamped; a zero quaternion means any heading."""
    p, q = msg.pose.position, msg.pose.orientation
    quat = (q.w, q.x, q.y, q.z)
    norm = math.sqrt(sum(v * v for v in quat))
    yaw = yaw_of(tuple(v / norm for v in quat)) if norm > 1e-9 and math.isfinite(norm) \
        else None
    return Pose2D(float(p.x), float(p.y), yaw)


def _level(level: int) -> bytes:
    return bytes([level])


class GaitControllerNode(Node):
    """Run the gait controller on each ``/joint_states`` arrival (see module docstring)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        values = declare_parameters(self, PARAMS, defaults_with_extras(
            CONFIG_FILE, NODE_NAME, PARAMS, {'scenario': ''}))
        core_values = {k: v for k, v in values.items() if k != 'scenario'}
        self.gait_params: GaitParams = parse_gait_params(core_values, 'parameters')
        scenario = load_scenario(values['scenario'] or None)
        self.body = BodyInfo.from_body_config(scenario.body_config,
                                              tuple(scenario.effective_acceleration_m_s2()))
        self.robot = load_robot_config()
        self.controller = GaitController(self.gait_params, self.robot, self.body)
        self.last_output: GaitOutput | None = None
        self.bad_messages = 0
        self.steps = 0
        #: Control steps with a refusal: expected ones (the control at work), and others.
        self.refusal_steps = {'expected': 0, 'unexpected': 0}
        self._step_gate = StepGate(CONTROL_PERIOD_S)
        self._wrench_force = {c: None for c in itf.CLAW_LEGS}
        self._wrench_stamp = {c: -math.inf for c in itf.CLAW_LEGS}
        self._claws: dict = {}
        self._claw_report = None
        self._odom: OdomState | None = None
        self._terrain: TerrainSummary | None = None
        self._operator = OperatorInput()
        self._autopilot_goal: Pose2D | None = None
        self._load_n = 0.0
        self._last_mode = None
        self._last_status = None
        self._last_status_s = -math.inf

        def pub(spec, msg_type):
            return make_publisher(self, spec, msg_type)

        def sub(spec, msg_type, callback):
            self.create_subscription(msg_type, spec.ros_name, callback, spec.qos.to_rclpy())

        self._pub_legs = pub(itf.LEG_COMMANDS, Float64MultiArray)
        self._pub_wheels = pub(itf.WHEEL_COMMANDS, Float64MultiArray)
        self._pub_claws = pub(itf.CLAW_REQUESTS, String)
        self._pub_mode = pub(itf.GAIT_MODE, String)
        self._pub_status = pub(itf.GAIT_STATUS, String)
        self._pub_markers = pub(itf.GAIT_MARKERS, MarkerArray)
        self._pub_diag = pub(itf.DIAGNOSTICS, DiagnosticArray)
        sub(itf.JOINT_STATES_LOW_RATE, JointState, self._on_joint_states)
        sub(itf.ODOM, Odometry, self._on_odom)
        sub(itf.CLAW_STATE, String, self._on_claw_state)
        for claw, spec in zip(itf.CLAW_LEGS, itf.FT_WRENCHES_LOW_RATE):
            sub(spec, WrenchStamped, lambda msg, c=claw: self._on_wrench(c, msg))
        sub(itf.TERRAIN_SUMMARY, String, self._on_terrain)
        sub(itf.CMD_VEL, Twist, self._on_cmd_vel)
        sub(itf.GOAL_POSE, PoseStamped, self._on_goal_pose)
        sub(itf.GAIT_REQUEST, String, self._on_gait_request)
        sub(itf.ESTOP, Bool, self._on_estop)
        sub(itf.MISSION_GOAL, PoseStamped, self._on_mission_goal)
        sub(itf.SAMPLING_LOAD, Float64, self._on_load)
        self.create_timer(1.0 / itf.GAIT_MARKERS.rate_hz, self._publish_markers)
        self.create_timer(1.0 / itf.DIAGNOSTICS.rate_hz, self._publish_diagnostics)
        self.get_logger().info(f'gait controller on {self.body.name} (requires_grip '
                               f'{self.body.requires_grip}), control period '
                               f'{CONTROL_PERIOD_S * 1000:.0f} ms')

    def now_s(self) -> float:
        """Return the node clock's time [s] (sim time with use_sim_time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _operator_update(self, **changes) -> None:
        values = {f.name: getattr(self._operator, f.name) for f in fields(OperatorInput)}
        values.update(changes)
        self._operator = OperatorInput(**values)

    # --- inputs --------------------------------------------------------------------------
    def _on_wrench(self, claw: str, msg: WrenchStamped) -> None:
        _, force, _ = cv.wrench_arrays(msg)
        self._wrench_force[claw] = tuple(float(v) for v in force)
        self._wrench_stamp[claw] = self.now_s()

    def _on_odom(self, msg: Odometry) -> None:
        _, position, quat, linear, angular, _ = cv.odometry_arrays(msg)
        self._odom = OdomState(tuple(position), tuple(quat), tuple(linear), tuple(angular),
                               self.now_s())

    def _on_claw_state(self, msg: String) -> None:
        try:
            report = claw_codec.decode_claw_state(msg.data)
        except ValueError as err:
            self._bad(f'claw state refused: {err}')
            return
        self._claw_report = report
        self._claws = claw_codec.claw_statuses(report)

    def _on_terrain(self, msg: String) -> None:
        try:
            report = decode_summary(msg.data)
            self._terrain = adapters.terrain_for_gait(report, self.now_s())
        except ValueError as err:
            self._bad(f'terrain summary refused: {err}')

    def _on_cmd_vel(self, msg: Twist) -> None:
        self._operator_update(cmd_vel=BodyTwist(msg.linear.x, msg.linear.y, msg.angular.z),
                              cmd_vel_stamp_s=self.now_s())

    def _on_goal_pose(self, msg: PoseStamped) -> None:
        frame = msg.header.frame_id.lstrip('/')
        if frame not in GOAL_FRAMES:
            self._bad(f'/goal_pose in frame {frame!r} refused: give it in odom or map')
            return
        self._operator_update(goal=pose2d_from_msg(msg), goal_stamp_s=self.now_s())

    def _on_gait_request(self, msg: String) -> None:
        self._operator_update(gait_request=str(msg.data), gait_request_stamp_s=self.now_s())

    def _on_estop(self, msg: Bool) -> None:
        if bool(msg.data) != self._operator.estop:
            self.get_logger().warning('e-stop: hold, every grip kept' if msg.data
                                      else 'e-stop cleared')
        self._operator_update(estop=bool(msg.data))

    def _on_mission_goal(self, msg: PoseStamped) -> None:
        goal = pose2d_from_msg(msg)
        finite = math.isfinite(goal.x_m) and math.isfinite(goal.y_m)
        frame = msg.header.frame_id.lstrip('/')
        if finite and frame not in GOAL_FRAMES:
            self._bad(f'/mission/goal in frame {frame!r} refused')
            return
        self._autopilot_goal = goal if finite else None

    def _on_load(self, msg: Float64) -> None:
        self._load_n = float(msg.data) if math.isfinite(msg.data) else math.inf

    def _bad(self, text: str) -> None:
        self.bad_messages += 1
        self.get_logger().warning(text, throttle_duration_sec=1.0)

    # --- the control step ----------------------------------------------------------------
    def _on_joint_states(self, msg: JointState) -> None:
        t_s = self.now_s()
        if not self._step_gate.due(t_s):
            return
        _, position, _, _ = cv.joint_state_arrays(msg, itf.LEG_JOINTS)
        q18 = adapters.leg_positions(position)
        forces = {}
        for claw in itf.CLAW_LEGS:
            force = self._wrench_force[claw]
            if force is not None and all(math.isfinite(v) for v in q18):
                forces[claw] = adapters.wrist_force_in_base(self.robot, claw, q18, force)
        inputs = GaitInputs(
            joint_positions_rad=q18, joint_stamp_s=t_s, claws=dict(self._claws),
            wrist_forces_n=forces, wrench_stamps_s=dict(self._wrench_stamp), odom=self._odom,
            terrain=self._terrain, operator=self._operator,
            autopilot_goal=self._autopilot_goal, external_load_n=self._load_n)
        out = self.controller.step(t_s, inputs)
        self.last_output = out
        self.steps += 1
        self.refusal_steps['expected'] += any(r.expected for r in out.refusals)
        self.refusal_steps['unexpected'] += any(not r.expected for r in out.refusals)
        self._pub_legs.publish(cv.float_array_msg(self._clamp_legs(out.leg_positions_rad)))
        limit = self.robot.wheel.velocity_max_rad_s
        self._pub_wheels.publish(cv.float_array_msg(
            np.clip(np.asarray(out.wheel_speeds_rad_s, dtype=float), -limit, limit)))
        self._pub_claws.publish(String(data=encode_claw_requests(out.claw_requests)))
        self._publish_state(t_s, out)

    def _clamp_legs(self, q18) -> np.ndarray:
        """Keep leg targets within the joint limits (the IK already respects them)."""
        q = np.asarray(q18, dtype=float).copy()
        for i in range(len(itf.LEG_JOINTS)):
            lim = self.robot.joints[itf.SEGMENTS[i % 3]]
            q[i] = min(max(q[i], lim.lower_rad), lim.upper_rad)
        return q

    def status_dict(self, t_s: float, out: GaitOutput) -> dict:
        """Return the ``/gait/status`` payload of a step."""
        return {'t_s': round(t_s, 3), 'mode': out.mode.value, 'stage': out.stage.value,
                'command_source': out.command_source.value,
                'cannot_crawl': bool(out.cannot_crawl),
                'external_load_limit_n': round(float(out.external_load_limit_n), 2),
                'body_twist': [round(v, 4) for v in (out.body_twist.vx_m_s,
                                                     out.body_twist.vy_m_s,
                                                     out.body_twist.wz_rad_s)],
                'refusals': [{'subject': r.subject, 'reason': r.reason}
                             for r in out.refusals],
                'stale_inputs': str(out.diagnostics.get('stale_inputs', '')),
                'selector': str(out.diagnostics.get('selector', '')),
                'walking_stance': list(self.walking_stance(out))}

    def walking_stance(self, out: GaitOutput) -> tuple:
        """Return the legs standing still on the ground (:func:`adapters.walking_stance`)."""
        return adapters.walking_stance(self.controller, out)

    def _publish_state(self, t_s: float, out: GaitOutput) -> None:
        if out.mode is not self._last_mode:
            self._pub_mode.publish(String(data=out.mode.value))
            if self._last_mode is not None:
                self.get_logger().info(f'mode {self._last_mode.value} -> {out.mode.value} '
                                       f'({out.diagnostics.get("selector", "")})')
        status = self.status_dict(t_s, out)
        volatile = ('t_s', 'body_twist', 'external_load_limit_n')
        key = {k: v for k, v in status.items() if k not in volatile}
        changed = key != self._last_status
        due = not 0.0 <= t_s - self._last_status_s < STATUS_MIN_PERIOD_S
        stance_changed = self._last_status is None or \
            key['walking_stance'] != self._last_status.get('walking_stance')
        if out.mode is not self._last_mode or stance_changed or (changed and due):
            self._pub_status.publish(String(data=json.dumps(status, sort_keys=True)))
            self._last_status = key
            self._last_status_s = t_s
            for refusal in out.refusals:
                text = f'refused {refusal.subject}: {refusal.reason}'
                if refusal.expected:   # the control at work: counted, not a warning
                    self.get_logger().debug(text)
                else:
                    self.get_logger().warning(text, throttle_duration_sec=2.0)
        self._last_mode = out.mode

    # --- markers and diagnostics ---------------------------------------------------------
    def _text_marker(self, ident: int, ns: str, text: str, xyz, rgb) -> Marker:
        m = Marker()
        m.header.frame_id = itf.BASE_FRAME
        m.header.stamp = self.get_clock().now().to_msg()
        m.ns, m.id = ns, ident
        m.type, m.action = Marker.TEXT_VIEW_FACING, Marker.ADD
        m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(v) for v in xyz)
        m.pose.orientation.w = 1.0
        m.scale.z = 0.06
        m.color.r, m.color.g, m.color.b = (float(v) for v in rgb)
        m.color.a = 1.0
        m.text = text
        m.lifetime.sec = 1
        return m

    def _publish_markers(self) -> None:
        out = self.last_output
        if out is None:
            return
        mode_colour = {Mode.HOLD: (1.0, 0.3, 0.2), Mode.ANCHOR: (1.0, 0.8, 0.2)}.get(
            out.mode, (0.3, 1.0, 0.4))
        stage = '' if out.stage.value == 'none' else f' ({out.stage.value})'
        markers = [self._text_marker(0, 'gait_mode', f'{out.mode.value}{stage}',
                                     (0.0, 0.0, 0.35), mode_colour)]
        feet = self.controller.kinematics.fk_all(out.leg_positions_rad)
        report = self._claw_report
        for i, claw in enumerate(itf.CLAW_LEGS):
            state = report.state(claw) if report is not None else None
            if state is None:
                text, rgb = f'{claw}: ?', (0.7, 0.7, 0.7)
            else:
                holding = state.verified_holding_n
                held = f' {holding:.0f} N' if math.isfinite(holding) and holding > 0 else ''
                text = f'{claw}: {state.mode.value}{held}'
                rgb = (0.3, 1.0, 0.4) if state.mode.value == 'holding' else (1.0, 0.8, 0.2)
            foot = np.asarray(feet[claw], dtype=float) + np.array([0.0, 0.0, 0.12])
            markers.append(self._text_marker(1 + i, 'claw_state', text, foot, rgb))
        self._pub_markers.publish(MarkerArray(markers=markers))

    def _publish_diagnostics(self) -> None:
        out = self.last_output
        status = DiagnosticStatus(name=NODE_NAME, hardware_id='legs, wheels')
        if out is None:
            status.level = _level(3)
            status.message = f'waiting for {itf.JOINT_STATES_LOW_RATE.name}'
            values = {}
        else:
            stale = str(out.diagnostics.get('stale_inputs', ''))
            if stale:
                status.level, status.message = _level(3), f'hold: stale {stale}'
            elif out.mode is Mode.HOLD:
                why = out.diagnostics.get('selector', '')
                status.level, status.message = _level(1), f'hold ({why})'
            else:
                status.level, status.message = _level(0), f'{out.mode.value}'
            values = {k: (f'{v:.3f}' if isinstance(v, float) else str(v))
                      for k, v in out.diagnostics.items()}
            values['refusals'] = '; '.join(f'{r.subject}: {r.reason}'
                                           for r in out.refusals) or '-'
        values.update({'body': self.body.name, 'estop': str(self._operator.estop),
                       'steps': str(self.steps), 'bad_messages': str(self.bad_messages),
                       'steps_with_expected_refusals': str(self.refusal_steps['expected']),
                       'steps_with_other_refusals': str(self.refusal_steps['unexpected']),
                       'sampling_load_n': f'{self._load_n:.1f}'})
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._pub_diag.publish(msg)


def main(args: list | None = None) -> None:
    """Run the gait controller (console script ``gait_controller``)."""
    run_node(GaitControllerNode, args)


if __name__ == '__main__':
    main()


__all__ = ['CONTROL_PERIOD_S', 'GaitControllerNode', 'NODE_NAME', 'PARAMS',
           'defaults_with_extras', 'main', 'pose2d_from_msg', 'specs_from_ranges',
           'unit_of']
