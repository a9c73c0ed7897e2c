# SPDX-License-Identifier: Apache-2.0
"""The ``claw_controller`` lifecycle node: a thin wrapper over core/claw.py's ClawController.

Lifecycle:

* construction declares the parameters (``config/claw_controller.yaml``; ranges from
  :data:`space_miner.core.claw.PARAM_RANGES`, exclusive bounds included): an out-of-range
  value given at start raises, so the node never comes up half-configured;
* ``configure`` takes a frozen snapshot of the parameters (checked again by
  :func:`~space_miner.core.claw.parse_claw_params`), builds the controller and creates the
  publishers, subscriptions and the diagnostics timer; a parameter changed later takes
  effect at the next configure;
* ``activate`` starts the loop: the controller steps on each arrival of ``/joint_states``
  with the latest wrist wrenches, and publishes the three squeeze commands;
* ``deactivate`` stops commanding and **never releases a grip**: the node publishes the last
  safe efforts once more and then stops publishing commands, so the hardware keeps them
  (ros2_control's forward-command controllers hold the last command they received). State
  stops too; ``/diagnostics`` goes on and says the node is inactive and what the hardware
  holds. ``cleanup`` and ``shutdown`` destroy the interfaces and never publish a zero.

Topics: in ``/joint_states``, ``/<c>_ft_broadcaster/wrench`` (sensor QoS),
``/claw_controller/requests`` and ``/estop``; out ``/claw_effort_controller/commands`` (one
per step), ``/claw_controller/state`` (JSON of core/claw_codec.py, at the rate
interfaces.py declares and at once on a change of mode), ``/claw_controller/slip_events``
(one JSON per slip) and ``/diagnostics`` (one status per claw plus one for the node, at the
declared rate and at once, at most every 0.1 s, when a claw's level changes). While
``/estop`` is true every grip is kept: releases, pull tests and lower grip targets are
refused (:func:`~space_miner.core.claw_codec.screen_for_estop`).

The step time is the ``/joint_states`` stamp (hardware or simulated time), so the core's
staleness checks compare sensor stamps with each other, never with the wall clock. Sensor
messages become the core's samples through :func:`space_miner.core.adapters.
claw_sensor_sample` (the wrist wrench turned from ``<c>_ft_link`` into the controller's
axes), the same function the lockstep harness uses.
"""

import math
import re
import sys

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import WrenchStamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String

from space_miner import interfaces as itf
from space_miner.core import adapters, claw_codec
from space_miner.core.claw import (ClawController, ClawOutput, DIAG_ERROR, DIAG_OK,
                                   DIAG_STALE, DIAG_WARN, PARAM_RANGES, parse_claw_params)
from space_miner.core.robot import ConfigError, load_robot_config
from space_miner.nodes import conversions as cv
from space_miner.nodes.endpoints import make_publisher
from space_miner.nodes.params import declare_parameters, load_defaults, ParamSpec
from space_miner.nodes.run import run_node
from space_miner.paths import config_path

NODE_NAME = 'claw_controller'
CONFIG_FILE = 'claw_controller.yaml'

#: A change of a claw's diagnostic level is published at once, at most this often [s].
_LEVEL_DIAG_MIN_PERIOD_S = 0.1
_UNITS = (('_n_per_s', 'N/s'), ('_per_s', '1/s'), ('_n', 'N'), ('_s', 's'), ('_m', 'm'))


def _yaml_comments() -> dict:
    """Each parameter's inline comment in the yaml (the one place its meaning is written)."""
    out, last = {}, None
    try:
        lines = config_path(CONFIG_FILE).read_text(encoding='utf-8').splitlines()
    except OSError:
        return out
    for line in lines:
        match = re.match(r'^\s+(\w+):\s*[^#\s][^#]*#\s*(.*)$', line)
        if match:
            last = match.group(1)
            out[last] = match.group(2).strip()
            continue
        more = re.match(r'^\s+#\s*(.*)$', line)
        if more and last is not None and len(line) - len(line.lstrip()) > 20:
            out[last] += ' ' + more.group(1).strip()  # an aligned continuation line
        else:
            last = None
    return out


def param_specs() -> tuple:
    """Build the node's ParamSpecs from the core's PARAM_RANGES (the one place of ranges).

    An exclusive lower bound becomes the next representable value above it, so rclpy's
    inclusive range refuses the bound itself; units come from the name's suffix.
    """
    comments = _yaml_comments()
    specs = []
    for name, (kind, low, high, exclusive) in PARAM_RANGES.items():
        unit = next((u for suffix, u in _UNITS if name.endswith(suffix)), '')
        if exclusive:
            low = math.nextafter(float(low), math.inf) if kind is float else int(low) + 1
        specs.append(ParamSpec(name, kind, comments.get(name, name.replace('_', ' ')), unit,
                               low, high))
    return tuple(specs)


PARAMS = param_specs()


class ClawControllerNode(LifecycleNode):
    """Run the claw force controller on each ``/joint_states`` arrival (see module docstring)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.params = declare_parameters(self, PARAMS,
                                         load_defaults(CONFIG_FILE, NODE_NAME, PARAMS))
        self.claw_params = parse_claw_params(dict(self.params), 'parameters')
        self.robot = load_robot_config()
        self.controller: ClawController | None = None
        self.active = False
        self.estop = False
        self.last_output: ClawOutput | None = None
        self.refused_requests = 0
        self.bad_messages = 0
        self._wrenches: dict = {}
        self._requests: list = []
        self._last_state_t = -math.inf
        self._last_modes: tuple = ()
        self._last_levels: tuple = ()
        self._last_level_diag_t = -math.inf
        self._last_event = {c: '' for c in itf.CLAW_LEGS}
        self._last_joint_arrival = None
        self._pubs: dict = {}
        self._subs: list = []
        self._timer = None

    # --- lifecycle -----------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Snapshot the parameters, build the controller, create publishers and subscriptions."""
        values = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        try:
            self.claw_params = parse_claw_params(values, 'parameters')
        except ConfigError as err:
            self.get_logger().error(f'configure refused: {err}')
            return TransitionCallbackReturn.FAILURE
        self.controller = ClawController(self.claw_params, self.robot)
        self.last_output = None
        self._wrenches = {}
        self._requests = []

        def pub(spec, msg_type):
            return make_publisher(self, spec, msg_type)

        self._pubs = {
            'commands': pub(itf.CLAW_COMMANDS, Float64MultiArray),
            'state': pub(itf.CLAW_STATE, String),
            'slips': pub(itf.CLAW_SLIPS, String),
            'diagnostics': pub(itf.DIAGNOSTICS, DiagnosticArray),
        }
        self._subs = [self.create_subscription(JointState, itf.JOINT_STATES.ros_name,
                                               self._on_joint_states,
                                               itf.JOINT_STATES.qos.to_rclpy())]
        for claw, spec in zip(itf.CLAW_LEGS, itf.FT_WRENCHES):
            self._subs.append(self.create_subscription(
                WrenchStamped, spec.ros_name, lambda msg, c=claw: self._on_wrench(c, msg),
                spec.qos.to_rclpy()))
        self._subs.append(self.create_subscription(String, itf.CLAW_REQUESTS.ros_name,
                                                   self._on_requests,
                                                   itf.CLAW_REQUESTS.qos.to_rclpy()))
        self._subs.append(self.create_subscription(Bool, itf.ESTOP.ros_name, self._on_estop,
                                                   itf.ESTOP.qos.to_rclpy()))
        self._timer = self.create_timer(1.0 / itf.DIAGNOSTICS.rate_hz,
                                        self._publish_diagnostics)
        self.get_logger().info('configured')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start stepping the controller on each /joint_states."""
        self.active = True
        self.get_logger().info('active: commanding the claws')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop commanding; the hardware keeps the last safe efforts (no grip is released)."""
        self.active = False
        if self.last_output is not None and 'commands' in self._pubs:
            self._pubs['commands'].publish(cv.float_array_msg(self.last_output.effort_commands_n))
        self.get_logger().info(f'inactive: the hardware holds the last efforts '
                               f'{self._held_text()} N')
        self._publish_diagnostics()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy publishers, subscriptions and the timer (nothing is published)."""
        self._destroy_interfaces()
        self.controller = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop and destroy the interfaces; the hardware keeps the last efforts."""
        self.active = False
        self._destroy_interfaces()
        return TransitionCallbackReturn.SUCCESS

    def _destroy_interfaces(self) -> None:
        self.active = False
        for sub in self._subs:
            self.destroy_subscription(sub)
        for pub in self._pubs.values():
            self.destroy_publisher(pub)
        if self._timer is not None:
            self.destroy_timer(self._timer)
        self._subs, self._pubs, self._timer = [], {}, None

    # --- inputs --------------------------------------------------------------------------
    def _on_wrench(self, claw: str, msg: WrenchStamped) -> None:
        self._wrenches[claw] = cv.wrench_arrays(msg)

    def _on_requests(self, msg: String) -> None:
        try:
            requests = claw_codec.decode_requests_message(msg.data)
        except ValueError as err:
            self.bad_messages += 1
            self.get_logger().warning(f'claw requests refused: {err}',
                                      throttle_duration_sec=1.0)
            return
        # Requests are level-triggered: between two steps the latest ones are what counts.
        self._requests = (self._requests + list(requests))[-4 * len(itf.CLAW_LEGS):]

    def _on_estop(self, msg: Bool) -> None:
        estop = bool(msg.data)
        if estop != self.estop:
            self.get_logger().warning('e-stop: every grip kept, releases refused' if estop
                                      else 'e-stop cleared')
        self.estop = estop

    def _on_joint_states(self, msg: JointState) -> None:
        self._last_joint_arrival = self.get_clock().now()
        if not self.active or self.controller is None:
            return
        stamp_s, position, _, effort = cv.joint_state_arrays(msg, itf.ALL_JOINTS)
        samples = {}
        for claw in itf.CLAW_LEGS:
            stamp, force, torque = self._wrenches.get(claw, (-math.inf, None, None))
            samples[claw] = adapters.claw_sensor_sample(claw, stamp_s, position, effort,
                                                        stamp, force, torque)
        requests, self._requests = self._requests, []
        if self.estop and requests:
            states = self.last_output.states if self.last_output is not None else ()
            requests, refused = claw_codec.screen_for_estop(requests, states)
            for req, why in refused:
                self._refuse(f'{req.claw} {req.kind.value}: {why}')
        out = self.controller.step(stamp_s, samples, requests)
        self.last_output = out
        self._pubs['commands'].publish(cv.float_array_msg(out.effort_commands_n))
        self._publish_outputs(out)

    def _refuse(self, text: str) -> None:
        self.refused_requests += 1
        self.get_logger().warning(f'refused {text}', throttle_duration_sec=1.0)

    # --- outputs -------------------------------------------------------------------------
    def _publish_outputs(self, out: ClawOutput) -> None:
        for event in out.slip_events:
            self._pubs['slips'].publish(String(data=claw_codec.encode_slip_event(event)))
        for refused in out.refused:
            self._refuse(f'{refused.request.claw} {getattr(refused.request.kind, "value", "")}'
                         f': {refused.reason}')
        n = len(itf.CLAW_LEGS)
        for level, name, message in out.diagnostics[n:]:  # this step's events
            claw = name.rsplit(' ', 1)[-1]
            if claw in self._last_event:
                self._last_event[claw] = message
            if message.startswith('refused '):
                continue   # logged, throttled, by _refuse: a repeated request must not flood
            # rclpy wants one severity per call site: one call each.
            if level >= DIAG_ERROR:
                self.get_logger().error(f'{name}: {message}')
            elif level == DIAG_WARN:
                self.get_logger().warning(f'{name}: {message}')
            else:
                self.get_logger().info(f'{name}: {message}')
        modes = tuple(s.mode for s in out.states)
        period = 1.0 / itf.CLAW_STATE.rate_hz
        if modes != self._last_modes or out.t_s - self._last_state_t >= period - 1e-6 or \
                out.t_s < self._last_state_t:
            self._pubs['state'].publish(String(data=claw_codec.encode_claw_state(
                out.t_s, out.states, out.pull_requests, self.estop)))
            self._last_state_t = out.t_s
            self._last_modes = modes
        levels = tuple(level for level, _, _ in out.diagnostics[:n])
        if levels != self._last_levels and not \
                0.0 <= out.t_s - self._last_level_diag_t < _LEVEL_DIAG_MIN_PERIOD_S:
            self._last_levels = levels
            self._last_level_diag_t = out.t_s
            self._publish_diagnostics()

    def _joints_silent_s(self) -> float:
        """Return the time since the last /joint_states arrived, on the node's clock [s]."""
        if self._last_joint_arrival is None:
            return math.inf
        return (self.get_clock().now() - self._last_joint_arrival).nanoseconds * 1e-9

    def _held_text(self) -> str:
        if self.last_output is None:
            return 'none'
        return '[' + ', '.join(f'{v:.1f}' for v in self.last_output.effort_commands_n) + ']'

    def _publish_diagnostics(self) -> None:
        pub = self._pubs.get('diagnostics')
        if pub is None:
            return
        out = self.last_output
        statuses = []
        for i, claw in enumerate(itf.CLAW_LEGS):
            status = DiagnosticStatus(name=f'{NODE_NAME}: {claw}',
                                      hardware_id=itf.CLAW_JOINTS[i])
            if out is None:
                status.level = _level(DIAG_STALE)
                status.message = 'no sensor data yet'
            else:
                level, _, message = out.diagnostics[i]
                s = out.states[i]
                status.level, status.message = _level(level), message
                values = {'mode': s.mode.value, 'squeeze_n': f'{s.squeeze_n:.2f}',
                          'target_n': f'{s.target_n:.2f}', 'command_n': f'{s.command_n:.2f}',
                          'verified_holding_n': f'{s.verified_holding_n:.2f}',
                          'load_n': f'{s.load_n:.2f}', 'weak': str(s.weak),
                          'verifying': str(s.verifying),
                          'regrasp_count': str(s.regrasp_count),
                          'last_event': self._last_event[claw] or '-'}
                status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
            statuses.append(status)
        node = DiagnosticStatus(name=NODE_NAME, hardware_id='claws')
        if not self.active:
            node.level = _level(DIAG_WARN)
            node.message = f'inactive: the hardware holds the last efforts {self._held_text()} N'
        elif self.estop:
            node.level, node.message = _level(DIAG_WARN), 'e-stop: every grip kept'
        elif out is None:
            node.level, node.message = _level(DIAG_STALE), 'waiting for /joint_states'
        elif self._joints_silent_s() > self.claw_params.stale_timeout_s:
            node.level = _level(DIAG_STALE)
            node.message = (f'no /joint_states for {self._joints_silent_s():.2f} s: the '
                            f'hardware holds the last efforts {self._held_text()} N')
        else:
            node.level, node.message = _level(DIAG_OK), 'running'
        node.values = [KeyValue(key='estop', value=str(self.estop)),
                       KeyValue(key='refused_requests', value=str(self.refused_requests)),
                       KeyValue(key='bad_messages', value=str(self.bad_messages)),
                       KeyValue(key='efforts_n', value=self._held_text()),
                       KeyValue(key='sensor_time_s',
                                value=f'{out.t_s:.3f}' if out is not None else '-')]
        statuses.append(node)
        msg = DiagnosticArray(status=statuses)
        msg.header.stamp = self.get_clock().now().to_msg()
        pub.publish(msg)


def _level(level: int) -> bytes:
    """Return a diagnostic level as DiagnosticStatus.level wants it (a byte)."""
    return bytes([max(DIAG_OK, min(int(level), DIAG_STALE))])


def main(args: list | None = None) -> None:
    """Run the claw controller (console script ``claw_controller``).

    Like every lifecycle node it starts unconfigured and waits for a lifecycle manager
    (launch/stack.launch.py configures, then activates it). ``--autostart`` makes it
    configure and activate itself, for a bringup without a lifecycle manager.
    """
    argv = list(sys.argv if args is None else args)
    autostart = '--autostart' in argv
    argv = [a for a in argv if a != '--autostart']

    def factory() -> ClawControllerNode:
        node = ClawControllerNode()
        if autostart:
            node.trigger_configure()
            node.trigger_activate()
        return node

    run_node(factory, argv)


if __name__ == '__main__':
    main()
