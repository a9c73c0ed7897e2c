# SPDX-License-Identifier: Apache-2.0
"""The ``sampler`` lifecycle node: a thin wrapper over core/sampling.py's SamplingSequence.

Lifecycle:

* construction declares the parameters (``config/sampler.yaml``; ranges from
  :data:`space_miner.core.sampling.PARAM_RANGES`; an out-of-range value given at start
  raises) plus ``sample_log_path`` (the sample log, JSON lines; relative paths are under
  the working directory; default :data:`DEFAULT_LOG_PATH` while the yaml lacks the key);
* ``configure`` snapshots the parameters, builds the sequence, opens the sample log (an
  existing log is reloaded: records survive a restart) and creates the publishers,
  subscriptions, the ``/sampling/start`` and ``/sampling/abort`` services and the timers;
  a parameter changed later (checked against its range) takes effect at the next configure;
* ``activate`` starts stepping the sequence on each arrival of the joint states at the
  control rate (``/joint_state_broadcaster_low_rate/joint_states``; steps at least half
  :data:`STEP_PERIOD_S` apart, :class:`~space_miner.nodes.step_gate.StepGate`) and accepts
  starts;
* ``deactivate`` aborts a running sequence and **retracts first**: the node keeps
  commanding until the feed is stowed (drill stopped, lid closed), then stops commanding;
  it never asks for a claw release (the only gait requests it can make are ``anchor`` and
  ``hold``). ``cleanup`` and ``shutdown`` destroy the interfaces.

Sites. ``/sampling/start`` takes the last ``/clicked_point`` (rviz "Publish Point") when one
arrived since the last start: in ``odom`` or ``map`` (the identity here) it is used as
is; in another frame the start is refused with the reason. Without a clicked point the
site is the mission's: the ``sampling_request`` (site and target mass) of
``/mission/status``, or its current target when that is a site. Without either the start
is refused.

Inputs: ``/sampler/mass`` [kg], the low-rate joint states (feed position [m] and effort = feed
force [N]), ``/claw_controller/state`` (verified holding and slips per claw; a report
older than :data:`CLAW_STATE_MAX_AGE_S` counts as no claw holding), ``/gait/mode``,
``/terrain/summary`` (the site verdict: the terrain's check of this site when it made one,
see :func:`space_miner.core.adapters.site_verdict`), ``/odom`` (body pose in odom) and
``/estop`` (stop motion, keep every grip: the attempt aborts, the drill stops and the feed
stays where it is until the e-stop clears, then retracts). A gait in ``hold`` the sequence
did not ask for pauses it, and is a fault once it outlasts ``gait_hold_grace_s`` (the core
judges both).

Outputs: ``/sampler_feed_controller/commands`` [m], ``/sampler_drill_controller/commands``
[rad/s], ``/sampler/lid`` (true: open) each step while commanding; ``/sampling/load`` (the
feed force set point, the reaction the claws carry [N]) at its declared rate;
``/sampling/status`` (latched JSON, on change: phase, attempt, mass, target, reason, site,
feed force, holding budget, input faults, log records); ``/gait/request`` (``anchor``
while the sequence needs the anchor, ``hold`` when it latches one, ``auto`` when it lets
go: on change, and every
:data:`~space_miner.core.adapters.GAIT_REQUEST_REPEAT_S` while one is held);
``/diagnostics`` at 1 Hz. Every finished attempt is appended to the sample log (atomic,
fsync'd).

Time is the node's clock (sim time with ``use_sim_time``); inputs are stamped with their
receive time on it.
"""

import json
import math
from pathlib import Path
import sys

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PointStamped
from nav_msgs.msg import Odometry
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray, String
from std_srvs.srv import Trigger

from space_miner import interfaces as itf
from space_miner.core import adapters, claw_codec
from space_miner.core.gait_library import yaw_of
from space_miner.core.robot import ConfigError, load_robot_config
from space_miner.core.sample_log import SampleLog
from space_miner.core.sampling import (LidCommand, load_drill_rates, PARAM_RANGES,
                                       parse_sampling_params, SamplingInputs, SamplingOutput,
                                       SamplingParams, SamplingPhase, SamplingSequence,
                                       TERMINAL_PHASES)
from space_miner.core.terrain_types import decode_summary, TerrainReport
from space_miner.nodes import conversions as cv
from space_miner.nodes.endpoints import make_publisher
from space_miner.nodes.gait_controller import defaults_with_extras, specs_from_ranges
from space_miner.nodes.params import declare_parameters, ParamSpec
from space_miner.nodes.run import run_node
from space_miner.nodes.step_gate import StepGate

NODE_NAME = 'sampler'
CONFIG_FILE = 'sampler.yaml'
DEFAULT_LOG_PATH = 'space_miner_samples.jsonl'
#: The step period [s]: the declared rate of the feed commands (and of the low-rate joint
#: states the sequence steps on).
STEP_PERIOD_S = 1.0 / itf.SAMPLER_FEED_COMMANDS.rate_hz
#: A claw state report older than this counts as no claw holding [s].
CLAW_STATE_MAX_AGE_S = 0.5
#: Frames a clicked site may be given in (map -> odom is the identity here).
SITE_FRAMES = (itf.ODOM_FRAME, itf.MAP_FRAME)

_FEED = itf.ALL_JOINTS.index(itf.SAMPLER_FEED_JOINTS[0])
LOG_SPEC = ParamSpec('sample_log_path', str,
                     'sample log file (JSON lines; relative: under the working directory)')
PARAMS = specs_from_ranges(dict(PARAM_RANGES), SamplingParams, (LOG_SPEC,))


class SamplerNode(LifecycleNode):
    """Run the sampling sequence (see module docstring)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.params = declare_parameters(self, PARAMS, defaults_with_extras(
            CONFIG_FILE, NODE_NAME, PARAMS, {'sample_log_path': DEFAULT_LOG_PATH}))
        self.sampling_params = self._parse(self.params)
        self.robot = load_robot_config()
        self.sequence: SamplingSequence | None = None
        self.log: SampleLog | None = None
        self.active = False
        self.commanding = False
        self.last_output: SamplingOutput | None = None
        self.bad_messages = 0
        self._reset_inputs()
        self._pubs: dict = {}
        self._subs: list = []
        self._own_services: list = []
        self._own_timers: list = []

    @staticmethod
    def _parse(values) -> SamplingParams:
        return parse_sampling_params({k: v for k, v in values.items()
                                      if k != LOG_SPEC.name}, 'parameters')

    def _reset_inputs(self) -> None:
        self._mass_kg = math.nan
        self._feed_m = math.nan
        self._feed_force_n = None
        self._claw_report = None
        self._claw_stamp_s = -math.inf
        self._gait_mode = None
        self._terrain: TerrainReport | None = None
        self._pose = None
        self._estop = False
        self._clicked = None            # ((x, y), refusal text)
        self._mission_site = None       # ((x, y), target_g or None)
        self._step_gate = StepGate(STEP_PERIOD_S)
        self._last_status = None
        self._gait_requests = adapters.GaitRequestRepeater(idle='auto')
        self._last_load_s = -math.inf

    def now_s(self) -> float:
        """Return the node clock's time [s] (sim time with use_sim_time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    # --- lifecycle -----------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Snapshot the parameters, build the sequence, open the log, create the interfaces."""
        values = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        try:
            self.sampling_params = self._parse(values)
            self.sequence = SamplingSequence(self.sampling_params, self.robot.sampler,
                                             load_drill_rates())
            self.log = SampleLog(Path(values[LOG_SPEC.name]).expanduser())
        except (ConfigError, ValueError, OSError) as err:
            self.get_logger().error(f'configure refused: {err}')
            return TransitionCallbackReturn.FAILURE
        for warning in self.log.warnings:
            self.get_logger().warning(f'sample log: {warning}')
        self.get_logger().info(f'sample log {self.log.path}: {len(self.log.records)} '
                               'record(s) reloaded')
        self._reset_inputs()

        def pub(spec, msg_type):
            return make_publisher(self, spec, msg_type)

        def sub(spec, msg_type, callback):
            self._subs.append(self.create_subscription(msg_type, spec.ros_name, callback,
                                                       spec.qos.to_rclpy()))

        self._pubs = {
            'feed': pub(itf.SAMPLER_FEED_COMMANDS, Float64MultiArray),
            'drill': pub(itf.SAMPLER_DRILL_COMMANDS, Float64MultiArray),
            'lid': pub(itf.SAMPLER_LID, Bool),
            'load': pub(itf.SAMPLING_LOAD, Float64),
            'status': pub(itf.SAMPLING_STATUS, String),
            'gait_request': pub(itf.GAIT_REQUEST, String),
            'diagnostics': pub(itf.DIAGNOSTICS, DiagnosticArray),
        }
        sub(itf.SAMPLER_MASS, Float64, self._on_mass)
        sub(itf.JOINT_STATES_LOW_RATE, JointState, self._on_joint_states)
        sub(itf.CLAW_STATE, String, self._on_claw_state)
        sub(itf.GAIT_MODE, String, self._on_gait_mode)
        sub(itf.TERRAIN_SUMMARY, String, self._on_terrain)
        sub(itf.ODOM, Odometry, self._on_odom)
        sub(itf.ESTOP, Bool, self._on_estop)
        sub(itf.CLICKED_POINT, PointStamped, self._on_clicked)
        sub(itf.MISSION_STATUS, String, self._on_mission_status)
        self._own_services = [
            self.create_service(Trigger, itf.SAMPLING_START.ros_name, self._on_start),
            self.create_service(Trigger, itf.SAMPLING_ABORT.ros_name, self._on_abort)]
        self._own_timers = [self.create_timer(1.0 / itf.DIAGNOSTICS.rate_hz,
                                              self._publish_diagnostics)]
        self._publish_status(self.sequence.status(), force=True)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start stepping the sequence and accepting starts."""
        self.active = True
        self.commanding = True
        self.get_logger().info('active')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Abort a running sequence; keep commanding until the sampler is retracted."""
        self.active = False
        if self.sequence is not None and self.sequence.active:
            self.sequence.abort(self.now_s(), 'node deactivated')
            self.get_logger().warning('deactivated: aborting, retracting the sampler first')
        self._stop_commanding_if_safe()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy the interfaces."""
        self._destroy_interfaces()
        self.sequence = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy the interfaces (the hardware keeps the last, safe, commands)."""
        self.active = False
        self._destroy_interfaces()
        return TransitionCallbackReturn.SUCCESS

    def _destroy_interfaces(self) -> None:
        self.active = self.commanding = False
        for sub in self._subs:
            self.destroy_subscription(sub)
        for srv in self._own_services:
            self.destroy_service(srv)
        for pub in self._pubs.values():
            self.destroy_publisher(pub)
        for timer in self._own_timers:
            self.destroy_timer(timer)
        self._subs, self._own_services, self._pubs, self._own_timers = [], [], {}, []

    def _stop_commanding_if_safe(self) -> None:
        """While inactive, stop commanding once no sequence runs and the feed is stowed."""
        if self.active or not self.commanding or self.sequence is None:
            return
        stowed = math.isfinite(self._feed_m) and \
            self._feed_m <= self.sampling_params.stow_tolerance_m
        if not self.sequence.active and (stowed or self.last_output is None):
            self.commanding = False
            self.get_logger().info('inactive: sampler retracted, commanding stopped')

    # --- inputs --------------------------------------------------------------------------
    def _on_mass(self, msg: Float64) -> None:
        self._mass_kg = float(msg.data)

    def _on_claw_state(self, msg: String) -> None:
        try:
            self._claw_report = claw_codec.decode_claw_state(msg.data)
        except ValueError as err:
            self._bad(f'claw state refused: {err}')
            return
        self._claw_stamp_s = self.now_s()

    def _on_gait_mode(self, msg: String) -> None:
        self._gait_mode = str(msg.data).strip().lower()

    def _on_terrain(self, msg: String) -> None:
        try:
            self._terrain = decode_summary(msg.data)
        except ValueError as err:
            self._bad(f'terrain summary refused: {err}')

    def _on_odom(self, msg: Odometry) -> None:
        _, position, quat, _, _, _ = cv.odometry_arrays(msg)
        self._pose = ((float(position[0]), float(position[1])), yaw_of(quat))

    def _on_estop(self, msg: Bool) -> None:
        self._estop = bool(msg.data)

    def _on_clicked(self, msg: PointStamped) -> None:
        frame = msg.header.frame_id.lstrip('/')
        xy = (float(msg.point.x), float(msg.point.y))
        why = '' if frame in SITE_FRAMES else \
            f'clicked point in frame {frame!r} refused: give it in odom or map'
        self._clicked = (xy, why)
        if why:
            self.get_logger().warning(why)
        else:
            self.get_logger().info(f'sampling site ({xy[0]:.2f}, {xy[1]:.2f}) from rviz')

    def _on_mission_status(self, msg: String) -> None:
        try:
            data = json.loads(msg.data)
            request = data.get('sampling_request')
            if request:
                site = tuple(float(v) for v in request['site_xy_m'][:2])
                self._mission_site = (site, float(request['target_g']))
            elif data.get('target_kind') == 'site' and data.get('target_xy_m'):
                self._mission_site = (tuple(float(v) for v in data['target_xy_m'][:2]), None)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            self._bad(f'mission status refused: {err!r}')

    def _bad(self, text: str) -> None:
        self.bad_messages += 1
        self.get_logger().warning(text, throttle_duration_sec=1.0)

    # --- services ------------------------------------------------------------------------
    def _on_start(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        response.success, response.message = self.start()
        if response.success:
            self.get_logger().info(f'/sampling/start: {response.message}')
        else:
            self.get_logger().warning(f'/sampling/start refused: {response.message}')
        return response

    def _on_abort(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        if self.sequence is None:
            response.success, response.message = False, 'not configured'
        else:
            response.success, response.message = self.sequence.abort(
                self.now_s(), 'operator request (/sampling/abort)')
        self.get_logger().info(f'/sampling/abort: {response.message}')
        return response

    def start(self) -> tuple:
        """Start a sequence at the clicked or the mission's site; ``(accepted, message)``."""
        if self.sequence is None or not self.active:
            return False, 'sampler not active'
        target = None
        if self._clicked is not None:
            (site, why), self._clicked = self._clicked, None
            if why:
                return False, why
            source = 'rviz'
        elif self._mission_site is not None:
            site, target = self._mission_site
            source = 'mission'
        else:
            return False, 'no site: publish one with rviz "Publish Point" or run a mission'
        ok, message = self.sequence.start(self.now_s(), site, target)
        if ok:
            message = f'{message} ({source} site {site[0]:.2f}, {site[1]:.2f})'
        return ok, message

    # --- the step ------------------------------------------------------------------------
    def _claw_holds(self, t_s: float) -> tuple:
        report = self._claw_report
        if report is None or not 0.0 <= t_s - self._claw_stamp_s <= CLAW_STATE_MAX_AGE_S:
            return ()
        return adapters.sampling_claw_holds(report.states,
                                            claw_codec.claw_statuses(report))

    def _on_joint_states(self, msg: JointState) -> None:
        t_s = self.now_s()
        _, position, _, effort = cv.joint_state_arrays(msg, itf.ALL_JOINTS)
        self._feed_m = float(position[_FEED])
        force = float(effort[_FEED])
        self._feed_force_n = force if math.isfinite(force) else None
        if self.sequence is None or not self.commanding:
            return
        if not self._step_gate.due(t_s):
            return
        seq = self.sequence
        site_xy = seq.status().site_xy_m
        xy, yaw = self._pose if self._pose is not None else ((math.nan, math.nan), math.nan)
        inputs = SamplingInputs(
            feed_position_m=self._feed_m, mass_kg=self._mass_kg, claws=self._claw_holds(t_s),
            gait_mode=self._gait_mode,
            site=adapters.site_verdict(self._terrain, site_xy,
                                       self.sampling_params.site_reach_m),
            body_xy_m=xy, body_yaw_rad=yaw, feed_force_n=self._feed_force_n,
            estop=self._estop)
        out = seq.step(t_s, inputs)
        self.last_output = out
        for result in out.attempt_results:
            record = self.log.append(result)
            self.get_logger().info(f'sample log #{record.id}: {record.outcome}, '
                                   f'{record.mass_g:.1f} g ({record.reason})')
        for event in out.events:
            # rclpy wants one severity per call site: one call each.
            if event.level.value == 'debug':
                self.get_logger().debug(event.text)
            elif event.level.value == 'info':
                self.get_logger().info(event.text)
            elif event.level.value == 'warn':
                self.get_logger().warning(event.text)
            else:
                self.get_logger().error(event.text)
        self._pubs['feed'].publish(cv.float_array_msg([out.feed_position_m]))
        self._pubs['drill'].publish(cv.float_array_msg([out.drill_speed_rad_s]))
        self._pubs['lid'].publish(Bool(data=out.lid is LidCommand.OPEN))
        if t_s - self._last_load_s >= 1.0 / itf.SAMPLING_LOAD.rate_hz - 1e-4 or \
                t_s < self._last_load_s:
            self._pubs['load'].publish(Float64(data=float(out.feed_force_n)))
            self._last_load_s = t_s
        self._publish_gait_request(t_s, out)
        self._publish_status(out.status)
        self._stop_commanding_if_safe()

    def _publish_gait_request(self, t_s: float, out: SamplingOutput) -> None:
        """Publish the sequence's gait request on change, and again while one is held."""
        wanted = out.gait_request.value if out.gait_request is not None else None
        text = self._gait_requests.due(t_s, wanted)
        if text is not None:
            self._pubs['gait_request'].publish(String(data=text))

    def status_dict(self, status) -> dict:
        """Return the ``/sampling/status`` payload of a SamplingStatus."""
        site = None if status.site_xy_m is None else [round(v, 4) for v in status.site_xy_m]
        return {'phase': status.phase.value, 'attempt': status.attempt,
                'max_attempts': status.max_attempts, 'mass_g': round(status.mass_g, 3),
                'target_g': round(status.target_g, 3), 'reason': status.reason,
                'terrain_kind': status.terrain_kind, 'site_xy_m': site,
                'feed_force_n': round(status.feed_force_n, 2),
                'holding_budget_n': round(status.holding_budget_n, 2),
                'feed_limit_changes': status.feed_limit_changes,
                'input_faults': list(status.input_faults),
                'active': status.phase not in TERMINAL_PHASES
                and status.phase is not SamplingPhase.IDLE,
                'log_records': len(self.log.records) if self.log is not None else 0}

    def _publish_status(self, status, force: bool = False) -> None:
        data = self.status_dict(status)
        key = {k: v for k, v in data.items() if k not in (
            'mass_g', 'feed_force_n', 'holding_budget_n', 'feed_limit_changes')}
        key['mass_g'] = round(status.mass_g, 1)
        if force or key != self._last_status:
            self._pubs['status'].publish(String(data=json.dumps(data, sort_keys=True)))
            self._last_status = key

    def _publish_diagnostics(self) -> None:
        pub = self._pubs.get('diagnostics')
        if pub is None or self.sequence is None:
            return
        status = self.sequence.status()
        diag = DiagnosticStatus(name=NODE_NAME, hardware_id='sampler')
        if not self.active:
            diag.level = bytes([1])
            diag.message = 'inactive' + (': retracting' if self.commanding else '')
        elif status.phase is SamplingPhase.FAILED:
            diag.level, diag.message = bytes([1]), f'failed: {status.reason}'
        elif status.input_faults:
            diag.level = bytes([1])
            diag.message = f'{status.phase.value}: invalid inputs refused'
        else:
            diag.level, diag.message = bytes([0]), status.phase.value
        values = {k: json.dumps(v) if not isinstance(v, str) else v
                  for k, v in self.status_dict(status).items()}
        values.update({'estop': str(self._estop), 'gait_mode': str(self._gait_mode),
                       'bad_messages': str(self.bad_messages),
                       'sample_log': str(self.log.path) if self.log is not None else '-'})
        diag.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[diag])
        msg.header.stamp = self.get_clock().now().to_msg()
        pub.publish(msg)


def main(args: list | None = None) -> None:
    """Run the sampler (console script ``sampler``).

    It starts unconfigured and waits for a lifecycle manager (launch/stack.launch.py
    configures, then activates it); ``--autostart`` makes it configure and activate itself.
    """
    argv = list(sys.argv if args is None else args)
    autostart = '--autostart' in argv
    argv = [a for a in argv if a != '--autostart']

    def factory() -> SamplerNode:
        node = SamplerNode()
        if autostart:
            node.trigger_configure()
            node.trigger_activate()
        return node

    run_node(factory, argv)


if __name__ == '__main__':
    main()
