# SPDX-License-Identifier: Apache-2.0
"""The ``state_estimator`` node: a thin wrapper over core/estimation.py's StateEstimator.

Inputs: ``/imu_broadcaster/imu`` -> :meth:`~space_miner.core.estimation.StateEstimator.
update_imu`; ``/joint_states`` -> ``update_joints`` with the claws the claw controller
reports anchored (``/claw_controller/state``: verified grip, not slipping, sensors alive, see
:func:`space_miner.core.claw_codec.anchored_claws`), and ``update_wheels`` with the wheel
speeds while ``/gait/mode`` is ``roll``. Every input is stamped with its header (hardware or
simulated time); the core validates it and counts what it refuses (NaN, stale, backwards).

Outputs: ``/odom`` (nav_msgs/Odometry, frame ``odom``, child ``base_link``, pose and twist
covariances) at ``publish_rate_hz`` whenever the estimate has moved on; the odom ->
base_link transform with it and a static map -> odom (identity: no global localisation
runs here) through tf2_ros when it can be imported. tf2_ros is imported lazily: without it
the node says so once in the log and goes on publishing ``/odom``. ``/diagnostics`` at
``diagnostics_rate_hz`` carries the filter's health (status, anchors, refusals and gate
failures per input, the last reason).

Parameters: ``config/state_estimator.yaml``, ranges and meanings from
:data:`space_miner.core.estimation.PARAM_SPECS`; an out-of-range value at start raises.
"""

import json
import math

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import TransformStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import String

from space_miner import interfaces as itf
from space_miner.core import claw_codec
from space_miner.core.estimation import (fuse_legs_and_wheels, ImuSample, NODE_NAME,
                                         PARAM_SPECS, parse_estimator_params, StateEstimator)
from space_miner.core.robot import load_robot_config
from space_miner.nodes import conversions as cv
from space_miner.nodes.endpoints import make_publisher
from space_miner.nodes.params import declare_parameters, load_defaults, ParamSpec
from space_miner.nodes.run import run_node

CONFIG_FILE = 'state_estimator.yaml'


def param_specs() -> tuple:
    """Build the node's ParamSpecs from the core's PARAM_SPECS (the one place of ranges)."""
    specs = []
    for name, (kind, low, high, description) in PARAM_SPECS.items():
        unit = ''
        if description.endswith(']') and '[' in description:
            description, unit = description[:-1].rsplit('[', 1)
            description = description.strip()
        specs.append(ParamSpec(name, kind, description, unit, low, high))
    return tuple(specs)


PARAMS = param_specs()


def parse_gait_mode(text: str) -> str:
    """Return the mode carried by ``/gait/mode``: its text, or a JSON object's ``mode``."""
    text = str(text).strip()
    if text.startswith('{'):
        try:
            text = str(json.loads(text).get('mode', ''))
        except (ValueError, AttributeError):
            return ''
    return text.lower()


def _transform(t_msg, parent: str, child: str, position, quat_wxyz) -> TransformStamped:
    tf = TransformStamped()
    tf.header.stamp = t_msg
    tf.header.frame_id = parent
    tf.child_frame_id = child
    tr, rot = tf.transform.translation, tf.transform.rotation
    tr.x, tr.y, tr.z = (float(v) for v in position)
    rot.w, rot.x, rot.y, rot.z = (float(v) for v in quat_wxyz)
    return tf


class StateEstimatorNode(Node):
    """Estimate base_link's pose in odom from the IMU, the legs and the wheels."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        values = declare_parameters(self, PARAMS, load_defaults(CONFIG_FILE, NODE_NAME, PARAMS))
        self.est_params = parse_estimator_params(dict(values), 'parameters')
        self.estimator = StateEstimator(self.est_params, load_robot_config())
        self.gait_mode = ''
        self.claw_report: claw_codec.ClawStateReport | None = None
        self.bad_messages = 0
        self._last_published_stamp = None
        self._last_arrival = {'imu': None, 'joints': None}
        self._anchored: dict = {}
        self._tf = self._static_tf = None
        self.tf_available = self._make_tf()

        self._pub_odom = make_publisher(self, itf.ODOM, Odometry)
        self._pub_diag = make_publisher(self, itf.DIAGNOSTICS, DiagnosticArray)
        self.create_subscription(Imu, itf.IMU.ros_name, self._on_imu, itf.IMU.qos.to_rclpy())
        self.create_subscription(JointState, itf.JOINT_STATES.ros_name, self._on_joints,
                                 itf.JOINT_STATES.qos.to_rclpy())
        self.create_subscription(String, itf.CLAW_STATE.ros_name, self._on_claw_state,
                                 itf.CLAW_STATE.qos.to_rclpy())
        self.create_subscription(String, itf.GAIT_MODE.ros_name, self._on_gait_mode,
                                 itf.GAIT_MODE.qos.to_rclpy())
        self.walking_stance: tuple = ()
        self.create_subscription(String, itf.GAIT_STATUS.ros_name, self._on_gait_status,
                                 itf.GAIT_STATUS.qos.to_rclpy())
        self.create_timer(1.0 / self.est_params.publish_rate_hz, self._publish_odom)
        self.create_timer(1.0 / self.est_params.diagnostics_rate_hz, self._publish_diagnostics)

    def _make_tf(self) -> bool:
        """Create the tf2 broadcasters when tf2_ros imports; log once when it does not."""
        try:
            import tf2_ros
        except ImportError as err:
            self.get_logger().warning(
                f'tf2_ros not available ({err}): odom -> base_link and map -> odom are not '
                'broadcast; /odom is published as usual')
            return False
        self._tf = tf2_ros.TransformBroadcaster(self)
        self._static_tf = tf2_ros.StaticTransformBroadcaster(self)
        self._static_tf.sendTransform(_transform(
            self.get_clock().now().to_msg(), itf.MAP_FRAME, itf.ODOM_FRAME, (0.0, 0.0, 0.0),
            (1.0, 0.0, 0.0, 0.0)))
        return True

    # --- inputs --------------------------------------------------------------------------
    def _on_imu(self, msg: Imu) -> None:
        self._last_arrival['imu'] = self.get_clock().now()
        stamp_s, quat, gyro, accel = cv.imu_arrays(msg)
        orientation = None if msg.orientation_covariance[0] == -1.0 else quat
        ok = self.estimator.update_imu(ImuSample(stamp_s, orientation, gyro, accel))
        if not ok:
            self._refused('imu')

    def _on_joints(self, msg: JointState) -> None:
        self._last_arrival['joints'] = self.get_clock().now()
        stamp_s, q, qd, _ = cv.joint_state_arrays(msg, itf.LEG_JOINTS)
        self._anchored = claw_codec.anchored_claws(self.claw_report, stamp_s,
                                                   self.est_params.input_timeout_s,
                                                   self.walking_stance)
        _, _, wheel_speeds, _ = cv.joint_state_arrays(msg, itf.WHEEL_JOINTS)
        joints_ok, wheels_ok = fuse_legs_and_wheels(
            self.estimator, stamp_s, q, qd, wheel_speeds, self._anchored, self.gait_mode,
            self.walking_stance)
        if not joints_ok:
            self._refused('joints')
        elif not wheels_ok:
            self._refused('wheels')

    def _on_claw_state(self, msg: String) -> None:
        try:
            self.claw_report = claw_codec.decode_claw_state(msg.data)
        except ValueError as err:
            self.bad_messages += 1
            self.get_logger().warning(f'claw state refused: {err}', throttle_duration_sec=1.0)

    def _on_gait_mode(self, msg: String) -> None:
        self.gait_mode = parse_gait_mode(msg.data)

    def _on_gait_status(self, msg: String) -> None:
        try:
            stance = json.loads(msg.data).get('walking_stance', [])
            self.walking_stance = tuple(str(leg) for leg in stance)
        except (ValueError, AttributeError, TypeError) as err:
            self.bad_messages += 1
            self.get_logger().warning(f'gait status refused: {err}', throttle_duration_sec=1.0)

    def _refused(self, stream: str) -> None:
        reason = self.estimator.health().last_reason
        self.get_logger().warning(f'{stream} input refused: {reason}',
                                  throttle_duration_sec=1.0)

    # --- outputs -------------------------------------------------------------------------
    def _publish_odom(self) -> None:
        est = self.estimator.estimate()
        if not math.isfinite(est.stamp_s) or est.stamp_s == self._last_published_stamp:
            return
        self._last_published_stamp = est.stamp_s
        msg = cv.odometry_msg(est.stamp_s, itf.ODOM_FRAME, itf.BASE_FRAME, est.position_m,
                              est.orientation_wxyz, est.linear_velocity_m_s,
                              est.angular_velocity_rad_s, est.pose_covariance,
                              est.twist_covariance)
        self._pub_odom.publish(msg)
        if self._tf is not None:
            self._tf.sendTransform(_transform(msg.header.stamp, itf.ODOM_FRAME, itf.BASE_FRAME,
                                              est.position_m, est.orientation_wxyz))

    def _publish_diagnostics(self) -> None:
        health = self.estimator.health()
        status = DiagnosticStatus(name=f'{NODE_NAME}: filter', hardware_id='base_link')
        level = health.status.diagnostic_level
        message = health.status.value
        now = self.get_clock().now()
        silent = [k for k, when in self._last_arrival.items() if when is None or
                  (now - when).nanoseconds * 1e-9 > self.est_params.input_timeout_s]
        if silent:
            level = 3
            message = f'stale: no {" or ".join(silent)} messages'
        elif health.last_reason and level != 0:
            message = f'{message}: {health.last_reason}'
        status.level = bytes([level])
        status.message = message
        pairs = health.key_values() + [
            ('tf2', 'broadcasting' if self.tf_available else 'not available'),
            ('gait_mode', self.gait_mode or '-'),
            ('anchored_by_claw_state', ','.join(c for c, v in self._anchored.items() if v)
             or '-'),
            ('bad_messages', str(self.bad_messages)),
        ]
        status.values = [KeyValue(key=k, value=v) for k, v in pairs]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = now.to_msg()
        self._pub_diag.publish(msg)


def main(args: list | None = None) -> None:
    """Run the state estimator (console script ``state_estimator``)."""
    run_node(StateEstimatorNode, args)


if __name__ == '__main__':
    main()
