# SPDX-License-Identifier: Apache-2.0
"""The embedded simulator node: serves the hardware side of the interface contract.

Like ``mujoco_ros2_control`` does for ros2_control users, this node owns a
:class:`space_miner.sim.world.World` and publishes exactly what ros2_control's broadcasters
would (``/joint_states``, the wrist wrenches, their 50 Hz copies for the nodes acting at the
control rate, the IMU), plus the sampler's load cell, the
depth camera, ``/ground_truth/odom`` and ``/clock`` (100 Hz); it takes the five
``*/commands`` topics. A malformed command (wrong length, NaN, beyond a limit) is refused
with a log line and the last safe command is kept.

The world is stepped in a thread of its own (MuJoCo's renderer is bound to the thread that
made its GL context), paced to ``real_time_factor`` (0: as fast as it goes) and never more
than ``max_stack_lag_s`` ahead of the stack's estimate (the ``/odom`` stamp): where the
machine cannot run the stack in real time, the world waits for it instead of letting its
watchdogs trip on stale sensors. Callbacks only hand commands and requests over through a
lock. Services: ``~/pause``
(std_srvs/SetBool), ``~/step`` (std_srvs/Trigger: one physics step while paused),
``~/reset`` (std_srvs/Trigger).

Under ``ros2 launch`` the node can also follow the mission as ``space-miner sim`` does
(:class:`space_miner.sim.run_record.RunRecord`, fed from the world's truth, ``/gait/mode``
and ``/mission/status``): with ``summary_path`` it writes DESIGN.md section 7's summary
(and a Markdown one beside it) when the run is over — the mission done, the scenario's time
limit reached, the robot detached — or when it is stopped before that; with
``exit_at_end`` it then ends, and ``sim.launch.py`` ends the launch with it.
"""

from dataclasses import dataclass
import math
from pathlib import Path
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import WrenchStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, Imu, JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger

from space_miner import interfaces as itf
from space_miner.core.robot import load_robot_config
from space_miner.core.scenario import load_scenario
from space_miner.nodes import conversions as cv
from space_miner.nodes.endpoints import make_publisher
from space_miner.nodes.params import declare_parameters, load_defaults, ParamSpec
from space_miner.nodes.run import run_node
from space_miner.sim.judge import ClawTruth, NeverDetachJudge
from space_miner.sim.run_record import RunRecord, write_markdown
from space_miner.sim.summary import write_json

NODE_NAME = 'mujoco_sim'
PARAMS = (
    ParamSpec('scenario', str, 'scenario file; empty: config/scenarios/default.yaml',
              read_only=True),
    ParamSpec('seed', int, "terrain and noise seed; -1: the scenario's", '', -1, 2**31 - 1,
              read_only=True),
    ParamSpec('physics_step_s', float, 'physics time step', 's', 0.0005, 0.01, read_only=True),
    ParamSpec('real_time_factor', float, 'simulated over wall time; 0: as fast as possible',
              '', 0.0, 1000.0),
    ParamSpec('joint_state_rate_hz', float, '/joint_states rate', 'Hz', 1.0, 1000.0),
    ParamSpec('wrench_rate_hz', float, 'wrist wrench rate', 'Hz', 1.0, 1000.0),
    ParamSpec('low_rate_hz', float, 'rate of the low-rate joint states and wrist wrenches '
              '(the control-rate copies the 50 Hz nodes read)', 'Hz', 1.0, 1000.0),
    ParamSpec('imu_rate_hz', float, 'IMU rate', 'Hz', 1.0, 1000.0),
    ParamSpec('sampler_mass_rate_hz', float, '/sampler/mass rate', 'Hz', 1.0, 200.0),
    ParamSpec('ground_truth_rate_hz', float, '/ground_truth/odom rate', 'Hz', 1.0, 500.0),
    ParamSpec('clock_rate_hz', float, '/clock rate', 'Hz', 10.0, 1000.0),
    ParamSpec('max_stack_lag_s', float, 'the world waits while the stack\'s estimate (/odom '
              'stamp) is more than this behind simulated time; 0: never waits', 's', 0.0, 10.0),
    ParamSpec('camera_rate_hz', float, 'depth camera rate; 0: no camera', 'Hz', 0.0, 30.0,
              read_only=True),
    ParamSpec('camera_width_px', int, 'depth image width', 'px', 16, 1280, read_only=True),
    ParamSpec('camera_height_px', int, 'depth image height', 'px', 12, 960, read_only=True),
    ParamSpec('diagnostics_rate_hz', float, '/diagnostics rate', 'Hz', 0.1, 10.0),
    ParamSpec('summary_path', str, "run summary (JSON) written when the run is over; '': none",
              read_only=True),
    ParamSpec('exit_at_end', bool, 'end the node when the run is over (mission done, time '
              'limit, detached)', read_only=True),
)
#: How often the node asks whether the run is over [s, wall time].
END_CHECK_PERIOD_S = 0.2
#: The world stops waiting for the stack when its estimate's stamp has not advanced for this
#: long [s, wall time]: an estimator that is gone or stuck must not stop the simulation.
STACK_STALL_S = 1.0
#: Sleep between two looks at the estimate's stamp while the world waits [s, wall time].
STACK_WAIT_POLL_S = 0.0005
#: Below this share of the real-time factor asked, the diagnostics say the world is behind.
REAL_TIME_SHORTFALL = 0.9


def publish_rate(params) -> float:
    """Messages per second the node publishes with these parameters."""
    camera = 2.0 * params['camera_rate_hz']  # image + camera_info
    return (params['joint_state_rate_hz'] + len(itf.FT_WRENCHES) * params['wrench_rate_hz']
            + (1 + len(itf.FT_WRENCHES_LOW_RATE)) * params['low_rate_hz']
            + params['imu_rate_hz'] + params['sampler_mass_rate_hz']
            + params['ground_truth_rate_hz'] + params['clock_rate_hz'] + camera
            + params['diagnostics_rate_hz'])


@dataclass
class _Requests:
    """What callbacks hand to the simulation thread."""

    commands: dict
    pause: bool | None = None
    steps: int = 0
    reset: bool = False
    lid: bool | None = None


class SimNode(Node):
    """Serve the hardware interface from the MuJoCo world."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.params = declare_parameters(self, PARAMS, load_defaults('sim.yaml', NODE_NAME,
                                                                     PARAMS))
        self.robot = load_robot_config()
        self.publish_rate_msgs_s = publish_rate(self.params)
        budget = itf.EXECUTOR_BUDGET_MSGS_PER_S * itf.EXECUTOR_BUDGET_FRACTION
        if self.publish_rate_msgs_s > budget:
            raise ValueError(f'sensor rates add up to {self.publish_rate_msgs_s:.0f} msg/s, '
                             f'above the message budget of {budget:.0f} msg/s '
                             f'({itf.EXECUTOR_BUDGET_FRACTION:.0%} of what one process '
                             f'delivers); lower the *_rate_hz parameters')
        self.scenario = load_scenario(self.params['scenario'] or None)
        #: The never-detach rule, judged from the world's truth every physics step.
        self.judge = NeverDetachJudge(self.scenario.body_config.requires_grip)
        self._limits = self._command_limits()
        self._lock = threading.Lock()
        self._requests = _Requests(commands={})
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.refused_commands = 0
        #: The stepping thread's last snapshot (replaced whole, read by others): sim time,
        #: pause, real-time factor, faults, detachment, true holding force per claw [N].
        self._status = {}

        def pub(spec, msg_type, name=None):
            return make_publisher(self, spec, msg_type, name)

        self._pub_joints = pub(itf.JOINT_STATES, JointState)
        self._pub_wrench = {claw: pub(spec, WrenchStamped)
                            for claw, spec in zip(itf.CLAW_LEGS, itf.FT_WRENCHES)}
        self._pub_joints_low = pub(itf.JOINT_STATES_LOW_RATE, JointState)
        self._pub_wrench_low = {claw: pub(spec, WrenchStamped) for claw, spec
                                in zip(itf.CLAW_LEGS, itf.FT_WRENCHES_LOW_RATE)}
        self._pub_imu = pub(itf.IMU, Imu)
        self._pub_mass = pub(itf.SAMPLER_MASS, Float64)
        self._pub_depth = pub(itf.DEPTH_IMAGE, Image)
        self._pub_info = pub(itf.DEPTH_INFO, CameraInfo)
        self._pub_truth = pub(itf.GROUND_TRUTH_ODOM, Odometry)
        self._pub_clock = pub(itf.CLOCK, Clock)
        self._pub_diag = pub(itf.DIAGNOSTICS, DiagnosticArray)
        for topic_name in itf.COMMAND_JOINTS:
            spec = itf.topic(topic_name)
            self.create_subscription(
                Float64MultiArray, spec.ros_name,
                lambda msg, name=topic_name: self._on_command(name, msg), spec.qos.to_rclpy())
        self.create_subscription(Bool, itf.SAMPLER_LID.ros_name, self._on_lid,
                                 itf.SAMPLER_LID.qos.to_rclpy())
        self.create_service(SetBool, '~/pause', self._on_pause)
        self.create_service(Trigger, '~/step', self._on_step)
        self.create_service(Trigger, '~/reset', self._on_reset)
        self.create_timer(1.0 / self.params['diagnostics_rate_hz'], self._publish_diagnostics)
        #: The run as space-miner sim follows it: time, true distance, gait, mission.
        self.record = RunRecord()
        self.run_over = ''  # why the run is over, once it is
        #: The stack's progress in simulated time: the latest /odom stamp [s] and when (wall,
        #: monotonic) it last advanced; None until the estimator publishes.
        self._stack_stamp_s: float | None = None
        self._stack_wall_s = 0.0
        #: Wall time the world spent waiting for the stack [s].
        self.stack_wait_s = 0.0
        self.create_subscription(Odometry, itf.ODOM.ros_name, self._on_odom,
                                 itf.ODOM.qos.to_rclpy())
        self._summary_written = False
        self._wall0 = time.monotonic()
        if self.params['summary_path'] or self.params['exit_at_end']:
            self.create_subscription(String, itf.GAIT_MODE.ros_name,
                                     lambda msg: self.record.on_mode(msg.data),
                                     itf.GAIT_MODE.qos.to_rclpy())
            self.create_subscription(String, itf.MISSION_STATUS.ros_name,
                                     lambda msg: self.record.on_mission(msg.data),
                                     itf.MISSION_STATUS.qos.to_rclpy())
            self.create_timer(END_CHECK_PERIOD_S, self._check_end)
        self._thread = threading.Thread(target=self._run, name='mujoco_sim', daemon=True)
        self._thread.start()
        self._ready.wait(timeout=120.0)
        if self._error is not None:
            raise self._error

    # --- commands ----------------------------------------------------------------------
    def _command_limits(self) -> dict:
        robot = self.robot
        legs = [robot.joints[seg] for _leg in itf.LEG_ORDER for seg in itf.SEGMENTS]
        wheel = robot.wheel.velocity_max_rad_s
        drill = robot.sampler.drill_velocity_max_rad_s
        return {
            itf.LEG_COMMANDS.name: ([j.lower_rad for j in legs], [j.upper_rad for j in legs]),
            itf.WHEEL_COMMANDS.name: ([-wheel] * 3, [wheel] * 3),
            itf.CLAW_COMMANDS.name: ([0.0] * 3, [robot.claw.grip_force_max_n] * 3),
            itf.SAMPLER_FEED_COMMANDS.name: ([0.0], [robot.sampler.feed_stroke_m]),
            itf.SAMPLER_DRILL_COMMANDS.name: ([-drill], [drill]),
        }

    def _on_command(self, topic_name: str, msg: Float64MultiArray) -> None:
        lower, upper = self._limits[topic_name]
        try:
            values = cv.command_array(msg, len(lower), lower, upper, topic_name)
            if topic_name == itf.CLAW_COMMANDS.name and \
                    values.sum() > self.robot.claw.grip_force_total_max_n + 1e-9:
                raise ValueError(f'{topic_name}: total {values.sum():g} N above '
                                 f'{self.robot.claw.grip_force_total_max_n:g} N')
        except ValueError as err:
            self.refused_commands += 1
            self.get_logger().warning(f'refused command, last safe command kept: {err}',
                                      throttle_duration_sec=1.0)
            return
        with self._lock:
            self._requests.commands[topic_name] = values

    def _on_lid(self, msg: Bool) -> None:
        with self._lock:
            self._requests.lid = bool(msg.data)

    def _on_odom(self, msg: Odometry) -> None:
        stamp_s = cv.from_stamp(msg.header.stamp)
        if self._stack_stamp_s is None or stamp_s > self._stack_stamp_s:
            self._stack_stamp_s = stamp_s
            self._stack_wall_s = time.monotonic()

    # --- services ----------------------------------------------------------------------
    def _on_pause(self, request: SetBool.Request, response: SetBool.Response):
        with self._lock:
            self._requests.pause = bool(request.data)
        response.success = True
        response.message = 'paused' if request.data else 'running'
        return response

    def _on_step(self, request: Trigger.Request, response: Trigger.Response):
        with self._lock:
            self._requests.steps += 1
        response.success = True
        response.message = 'one physics step queued (applies while paused)'
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        with self._lock:
            self._requests.reset = True
        response.success = True
        response.message = 'reset queued: the world restarts from the scenario start'
        return response

    # --- the simulation thread ------------------------------------------------------------
    def _run(self) -> None:
        try:
            from space_miner.sim.world import World
            p = self.params
            camera = ((p['camera_width_px'], p['camera_height_px'])
                      if p['camera_rate_hz'] > 0 else None)
            seed = None if p['seed'] < 0 else p['seed']
            world = World(self.scenario, self.robot, camera=camera, seed=seed,
                          timestep_s=p['physics_step_s'])
        except BaseException as err:  # surfaced by the constructor
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(world)
        except BaseException as err:  # keep the reason for diagnostics and the log
            if self._stop.is_set() or not self.context.ok():
                return  # shut down (SIGINT) under a publish: a clean end, not an error
            self._error = err
            self.get_logger().error(f'simulation stopped: {err!r}')

    def _loop(self, world) -> None:
        p = self.params
        streams = {
            'joints': p['joint_state_rate_hz'], 'wrench': p['wrench_rate_hz'],
            'low_rate': p['low_rate_hz'],
            'imu': p['imu_rate_hz'], 'mass': p['sampler_mass_rate_hz'],
            'truth': p['ground_truth_rate_hz'], 'clock': p['clock_rate_hz'],
        }
        if p['camera_rate_hz'] > 0:
            streams['camera'] = p['camera_rate_hz']
        due = {name: world.time_s for name in streams}
        paused = False
        wall0, sim0 = time.monotonic(), world.time_s
        while not self._stop.is_set():
            with self._lock:
                requests, self._requests = self._requests, _Requests(commands={})
            if requests.reset:
                world.reset()
                self._stack_stamp_s = None  # the estimator's stamps start over too
                self.judge = NeverDetachJudge(self.scenario.body_config.requires_grip)
                due = {name: world.time_s for name in streams}
                wall0, sim0 = time.monotonic(), world.time_s
            if requests.pause is not None:
                paused = requests.pause
                wall0, sim0 = time.monotonic(), world.time_s
            self._apply(world, requests.commands)
            if requests.lid is not None:
                world.set_lid(requests.lid)
            if paused and requests.steps == 0:
                time.sleep(0.002)
                continue
            if paused:
                steps = requests.steps
            else:  # step straight to the next publication (at most 10 ms of sim time)
                gap_s = min(min(due.values()) - world.time_s, 0.01)
                steps = max(1, int(math.ceil(gap_s / world.timestep_s - 1e-9)))
            for _ in range(steps):  # the rule is judged from the truth every step
                world.step(1)
                self.judge.step(world.time_s, world.timestep_s, {
                    c: ClawTruth(g.gripping, g.holding_force_n)
                    for c, g in world.grip_truth().items()}, world.external_load_n())
            t = world.time_s
            self.record.on_time(t)
            now = [name for name in streams if t + 1e-9 >= due[name]]
            sensors = world.read_sensors(imu='imu' in now) if now else None
            for name in now:
                due[name] = max(due[name] + 1.0 / streams[name], t)
                self._publish(name, world, sensors, t)
            if not paused:
                self._wait_for_stack(t)
            rtf = self.params['real_time_factor']
            if rtf > 0.0 and not paused:
                ahead = (t - sim0) / rtf - (time.monotonic() - wall0)
                if ahead > 0.001:
                    time.sleep(ahead)
            self._status = {'sim_time_s': t, 'paused': paused,
                            'rtf': (t - sim0) / max(1e-9, time.monotonic() - wall0),
                            'faults': world.active_faults(), 'detached': world.is_detached(),
                            'holding_n': {c: g.holding_force_n if g.gripping else 0.0
                                          for c, g in world.grip_truth().items()}}

    def _wait_for_stack(self, t_s: float) -> None:
        """Hold the world while the stack's estimate lags ``max_stack_lag_s`` behind ``t_s``.

        A simulator on a machine slower than the robot's computer must not let the world run
        ahead of the stack: the controllers would act on stale sensors (their watchdogs
        hold), which no robot sees. The estimator's ``/odom`` stamp is the stack's progress
        (it follows the 200 Hz IMU; every node shares the same cores). Off before the first
        estimate, and whenever the stamp has not advanced for :data:`STACK_STALL_S` (a
        stopped or stuck estimator must not stop the world).
        """
        max_lag_s = self.params['max_stack_lag_s']
        if max_lag_s <= 0.0:
            return
        start = time.monotonic()
        while not self._stop.is_set():
            stamp_s = self._stack_stamp_s
            if stamp_s is None or t_s - stamp_s <= max_lag_s or t_s < stamp_s \
                    or time.monotonic() - self._stack_wall_s > STACK_STALL_S:
                break
            time.sleep(STACK_WAIT_POLL_S)
        self.stack_wait_s += time.monotonic() - start

    def _apply(self, world, commands: dict) -> None:
        setters = {
            itf.LEG_COMMANDS.name: world.command_legs,
            itf.WHEEL_COMMANDS.name: world.command_wheels,
            itf.CLAW_COMMANDS.name: world.command_claws,
            itf.SAMPLER_FEED_COMMANDS.name: world.command_feed,
            itf.SAMPLER_DRILL_COMMANDS.name: world.command_drill,
        }
        for topic_name, values in commands.items():
            try:
                setters[topic_name](values)
            except ValueError as err:
                self.refused_commands += 1
                self.get_logger().warning(f'world refused command, last safe kept: {err}',
                                          throttle_duration_sec=1.0)

    def _publish(self, stream: str, world, sensors, t: float) -> None:
        if stream == 'clock':
            self._pub_clock.publish(cv.clock_msg(t))
        elif stream == 'joints':
            self._publish_joints(self._pub_joints, sensors, t)
        elif stream == 'wrench':
            self._publish_wrenches(self._pub_wrench, sensors, t)
        elif stream == 'low_rate':  # the same readings, for the nodes acting at 50 Hz
            self._publish_joints(self._pub_joints_low, sensors, t)
            self._publish_wrenches(self._pub_wrench_low, sensors, t)
        elif stream == 'imu':
            imu = sensors.imu
            cfg = self.robot.imu
            self._pub_imu.publish(cv.imu_msg(
                t, 'imu_link', imu.quat_wxyz, imu.gyro_rad_s, imu.accel_m_s2,
                cfg.gyro_noise_std_rad_s ** 2, cfg.accel_noise_std_m_s2 ** 2))
        elif stream == 'mass':
            self._pub_mass.publish(cv.float64_msg(sensors.sampler_mass_kg))
            self.record.on_mass(sensors.sampler_mass_kg)
        elif stream == 'truth':
            truth = world.ground_truth()
            self.record.on_position(float(truth.position_m[0]), float(truth.position_m[1]))
            self._pub_truth.publish(cv.odometry_msg(
                t, itf.MAP_FRAME, itf.BASE_FRAME, truth.position_m, truth.quat_wxyz,
                truth.linear_velocity_body_m_s, truth.angular_velocity_rad_s))
        elif stream == 'camera':
            depth, k = world.render_depth()
            if depth is not None:  # camera_dropout: the camera is silent
                frame = 'camera_depth_optical_frame'
                self._pub_depth.publish(cv.depth_image_msg(t, frame, depth))
                height, width = depth.shape
                self._pub_info.publish(cv.camera_info_msg(t, frame, width, height, k))

    @staticmethod
    def _publish_joints(pub, sensors, t: float) -> None:
        pub.publish(cv.joint_state_msg(
            t, sensors.joint_names, sensors.position, sensors.velocity, sensors.effort))

    @staticmethod
    def _publish_wrenches(pubs: dict, sensors, t: float) -> None:
        for claw, wrench in sensors.wrenches.items():
            if wrench is not None:  # a silent sensor (ft_dropout) publishes nothing
                pubs[claw].publish(cv.wrench_msg(
                    t, f'{claw}_ft_link', wrench.force_n, wrench.torque_nm))

    # --- health ------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        status = dict(self._status)
        diag = DiagnosticStatus(name=f'{NODE_NAME}: simulator', hardware_id='mujoco')
        detached, reason = status.get('detached', (False, ''))
        if self._error is not None:
            diag.level, diag.message = DiagnosticStatus.ERROR, f'stopped: {self._error!r}'
        elif detached:
            diag.level, diag.message = DiagnosticStatus.WARN, f'robot detached: {reason}'
        elif self.judge.verdict.in_violation:
            diag.level = DiagnosticStatus.WARN
            diag.message = f'never-detach rule broken: {self.judge.verdict.last_reason}'
        elif self._behind_real_time(status):
            asked, rtf = self.params['real_time_factor'], status.get('rtf', 0.0)
            waited = self.stack_wait_s / max(1e-9, time.monotonic() - self._wall0)
            diag.level = DiagnosticStatus.WARN
            diag.message = (f'running at {rtf:.2f}x, not the {asked:g}x asked '
                            f'(waiting for the stack {waited:.0%} of the time)')
        else:
            diag.level, diag.message = DiagnosticStatus.OK, 'running'
        values = {
            'sim_time_s': f"{status.get('sim_time_s', 0.0):.3f}",
            'real_time_factor': f"{status.get('rtf', 0.0):.2f}",
            'paused': str(status.get('paused', False)),
            'refused_commands': str(self.refused_commands),
            'waited_for_stack_s': f'{self.stack_wait_s:.1f}',
            'rule_violations': str(self.judge.verdict.violations),
            'rule_violation_time_s': f'{self.judge.verdict.violation_time_s:.3f}',
            'active_faults': ', '.join(str(f) for f in status.get('faults', ())) or 'none',
        }
        diag.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[diag])
        msg.header.stamp = cv.to_stamp(status.get('sim_time_s', 0.0))
        self._pub_diag.publish(msg)

    def _behind_real_time(self, status: dict) -> bool:
        """Whether the world runs below :data:`REAL_TIME_SHORTFALL` of the factor asked."""
        asked = self.params['real_time_factor']
        return (asked > 0.0 and not status.get('paused', False) and 'rtf' in status
                and status['rtf'] < REAL_TIME_SHORTFALL * asked)

    def _stop_stepping(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)

    # --- the end of a run ------------------------------------------------------------------
    def _check_end(self) -> None:
        if self.run_over:
            return
        why = self.record.end_reason(self.scenario.mission.time_limit_s,
                                     self._status.get('detached', (False, '')), self._error)
        if not why:
            return
        self.run_over = why
        self.get_logger().info(f'run over: {why}')
        self._write_summary(why)
        if self.params['exit_at_end']:
            self.get_logger().info('exit_at_end: the simulator stops')
            self._stop_stepping()
            self.context.try_shutdown()

    def _write_summary(self, reason: str) -> None:
        path = self.params['summary_path']
        if not path or self._summary_written:
            return
        detached = bool(self._status.get('detached', (False, ''))[0])
        summary = self.record.summary(self.scenario, self.judge.verdict, reason, detached,
                                      time.monotonic() - self._wall0,
                                      extra={'summary_by': NODE_NAME})
        write_json(path, summary)
        write_markdown(Path(path).with_suffix('.md'), summary)
        self._summary_written = True
        if self.context.ok():  # after a shutdown the log has no /rosout to go to
            self.get_logger().info(f"summary: {path} (success={summary['success']})")

    def destroy_node(self) -> None:
        """Stop the simulation thread, write the summary if asked and not yet, destroy."""
        self._stop_stepping()
        try:
            self._write_summary(self.run_over or 'stopped before the run was over')
        finally:
            super().destroy_node()


def main(args: list | None = None) -> None:
    """Run the simulator node (console script ``sim_node``)."""
    run_node(SimNode, args)


if __name__ == '__main__':
    main()
