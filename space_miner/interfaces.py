# SPDX-License-Identifier: Apache-2.0
"""The interface contract: every topic and service, its type, QoS and rate; joint orders.

This module is the one place where a topic name, a message type or a QoS is written
(DESIGN.md section 4). It imports nothing from ROS at import time, so the core, the
harness and the rosbag tools can use it too; :meth:`QosSpec.to_rclpy` and
:func:`msg_class` import rclpy and the message packages lazily.

Names and namespaces: a spec's ``name`` is the topic's name for a robot in the root
namespace (``/joint_states``), the name the README, DESIGN.md and a single-robot graph use.
Nodes create their endpoints with ``ros_name``: relative (``joint_states``) for every topic
and service of one robot, so a node's namespace (``namespace:=r1``, ``--ros-args -r
__ns:=/r1``) moves the whole robot; global (``/clock``) only for what every robot on the
graph shares. Where an absolute name is needed under a namespace (a bag's topic names, a
probe's subscriptions, the rviz config) :func:`resolve` gives it, and :func:`root_name`
takes it back. ``/tf`` and ``/tf_static`` are remapped to ``tf`` and ``tf_static``
(:data:`TF_REMAPPINGS`), as ROS 2 multi-robot setups do: each robot has its own tf tree,
with the same frame names.

Run ``python -m space_miner.interfaces`` to print the README's interface table.
"""

from dataclasses import dataclass, field
import importlib
import re
from typing import Any

# --- Robot structure (DESIGN.md section 3) -------------------------------------------------

#: Legs in contract order, counter-clockwise from the front (+x), every 60 degrees.
LEG_ORDER = ('c1', 'w1', 'c2', 'w2', 'c3', 'w3')
CLAW_LEGS = ('c1', 'c2', 'c3')
WHEEL_LEGS = ('w1', 'w2', 'w3')
SEGMENTS = ('coxa', 'femur', 'tibia')

#: The 18 leg joints of ``/leg_position_controller/commands``, in contract order.
LEG_JOINTS = tuple(f'{leg}_{seg}_joint' for leg in LEG_ORDER for seg in SEGMENTS)
#: ``/wheel_velocity_controller/commands`` [rad/s].
WHEEL_JOINTS = tuple(f'{w}_wheel_joint' for w in WHEEL_LEGS)
#: ``/claw_effort_controller/commands`` [N of squeeze].
CLAW_JOINTS = tuple(f'{c}_claw_joint' for c in CLAW_LEGS)
#: ``/sampler_feed_controller/commands`` [m].
SAMPLER_FEED_JOINTS = ('sampler_feed_joint',)
#: ``/sampler_drill_controller/commands`` [rad/s].
SAMPLER_DRILL_JOINTS = ('sampler_drill_joint',)
#: Every actuated joint, in the order ``/joint_states`` carries them.
ALL_JOINTS = LEG_JOINTS + WHEEL_JOINTS + CLAW_JOINTS + SAMPLER_FEED_JOINTS + SAMPLER_DRILL_JOINTS

#: Frames of DESIGN.md section 3 (besides the per-segment links).
FRAMES = (
    ('base_link', 'imu_link', 'camera_link', 'camera_depth_optical_frame',
     'sampler_feed_link', 'sampler_drill_link')
    + tuple(f'{c}_claw_link' for c in CLAW_LEGS)
    + tuple(f'{c}_ft_link' for c in CLAW_LEGS)
    + tuple(f'{w}_wheel_link' for w in WHEEL_LEGS)
    + tuple(f'{leg}_{seg}_link' for leg in LEG_ORDER for seg in SEGMENTS)
)
ODOM_FRAME = 'odom'
MAP_FRAME = 'map'
BASE_FRAME = 'base_link'


# --- QoS ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class QosSpec:
    """A QoS profile as plain data: reliability, durability and history depth."""

    name: str
    reliability: str  # 'reliable' | 'best_effort'
    durability: str   # 'volatile' | 'transient_local'
    depth: int

    def to_rclpy(self) -> Any:
        """Build the rclpy ``QoSProfile`` (imports rclpy)."""
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=self.depth,
            reliability=(ReliabilityPolicy.RELIABLE if self.reliability == 'reliable'
                         else ReliabilityPolicy.BEST_EFFORT),
            durability=(DurabilityPolicy.TRANSIENT_LOCAL if self.durability == 'transient_local'
                        else DurabilityPolicy.VOLATILE),
        )


#: Sensor streams, as the stack subscribes: rclpy's sensor-data profile.
SENSOR_QOS = QosSpec('sensor', 'best_effort', 'volatile', 5)
#: What ros2_control's broadcasters publish with (system default, reliable); a best-effort
#: subscriber is compatible with it, so the sim node publishes like the real hardware.
HW_STATE_QOS = QosSpec('hw_state', 'reliable', 'volatile', 10)
#: Commands to the hardware controllers: reliable, small depth.
COMMAND_QOS = QosSpec('command', 'reliable', 'volatile', 10)
#: Operator input, as rviz and teleop_twist_keyboard publish it.
OPERATOR_QOS = QosSpec('operator', 'reliable', 'volatile', 10)
#: Latched state (gait mode, sampling status, maps): transient-local, depth 1.
LATCHED_QOS = QosSpec('latched', 'reliable', 'transient_local', 1)
#: Odometry and internal state streams.
STATE_QOS = QosSpec('state', 'reliable', 'volatile', 10)
#: /clock: reliable depth 1 (compatible with rclpy's best-effort time source).
CLOCK_QOS = QosSpec('clock', 'reliable', 'volatile', 1)
#: /diagnostics, as diagnostic_updater publishes.
DIAGNOSTICS_QOS = QosSpec('diagnostics', 'reliable', 'volatile', 10)

QOS_PROFILES = (SENSOR_QOS, HW_STATE_QOS, COMMAND_QOS, OPERATOR_QOS, LATCHED_QOS, STATE_QOS,
                CLOCK_QOS, DIAGNOSTICS_QOS)


# --- Topics and services -------------------------------------------------------------------

@dataclass(frozen=True)
class TopicSpec:
    """One topic: name, ROS type, QoS, nominal rate and who publishes and subscribes.

    ``qos`` is the subscribers' profile; ``publisher_qos`` the publisher's where it differs
    (hardware state is published reliable, as ros2_control does, and read as sensor data).
    ``rate_hz`` is the nominal live-graph rate (0 for event-driven topics). ``name`` is the
    name in the root namespace; ``scope`` says whether it moves with the robot's namespace
    (``'robot'``) or is one for the whole graph (``'global'``: ``/clock``).
    """

    name: str
    msg_type: str
    qos: QosSpec
    rate_hz: float
    publisher: str
    subscribers: tuple
    side: str  # 'hardware' | 'operator' | 'stack' | 'sim'
    description: str
    publisher_qos: QosSpec | None = field(default=None)
    scope: str = 'robot'  # 'robot' | 'global'

    @property
    def pub_qos(self) -> QosSpec:
        """Return the profile the publisher uses."""
        return self.publisher_qos or self.qos

    @property
    def ros_name(self) -> str:
        """Return the name nodes use: relative for a robot's topic, absolute if global."""
        return self.name if self.scope == 'global' else self.name.lstrip('/')

    def resolved(self, namespace: str = '') -> str:
        """Return the absolute name of this topic for the robot in ``namespace``."""
        return resolve(self.ros_name, namespace)


@dataclass(frozen=True)
class ServiceSpec:
    """One service: name, ROS type, server and meaning."""

    name: str
    srv_type: str
    server: str
    description: str

    @property
    def ros_name(self) -> str:
        """Return the name nodes use: relative, so the robot's namespace moves it."""
        return self.name.lstrip('/')

    def resolved(self, namespace: str = '') -> str:
        """Return the absolute name of this service for the robot in ``namespace``."""
        return resolve(self.ros_name, namespace)


#: Rate of the low-rate copies of the hardware state [Hz]: the 50 Hz nodes (gait, sampler,
#: terrain perception) act on the latest joint states and wrist wrenches once per control
#: period, so they read these instead of the 250 Hz streams (a second joint state broadcaster
#: and force/torque broadcasters with ``update_rate: 50`` in config/ros2_controllers.yaml).
#: Each message they are not delivered is one fewer wake-up of their executor.
LOW_RATE_HZ = 50.0


def _ft(claw: str) -> TopicSpec:
    return TopicSpec(f'/{claw}_ft_broadcaster/wrench', 'geometry_msgs/msg/WrenchStamped',
                     SENSOR_QOS, 250.0, 'hardware', ('claw_controller',), 'hardware',
                     f'wrist force/torque of {claw} [N, N m], frame {claw}_ft_link',
                     HW_STATE_QOS)


def _ft_low_rate(claw: str) -> TopicSpec:
    return TopicSpec(f'/{claw}_ft_broadcaster_low_rate/wrench',
                     'geometry_msgs/msg/WrenchStamped', SENSOR_QOS, LOW_RATE_HZ, 'hardware',
                     ('gait_controller',), 'hardware',
                     f'the wrist wrench of {claw} at the control rate (same values)',
                     HW_STATE_QOS)


JOINT_STATES = TopicSpec(
    '/joint_states', 'sensor_msgs/msg/JointState', SENSOR_QOS, 250.0, 'hardware',
    ('claw_controller', 'state_estimator'),
    'hardware', 'every joint: position, velocity, effort (claw effort = squeeze force [N])',
    HW_STATE_QOS)
JOINT_STATES_LOW_RATE = TopicSpec(
    '/joint_state_broadcaster_low_rate/joint_states', 'sensor_msgs/msg/JointState',
    SENSOR_QOS, LOW_RATE_HZ, 'hardware', ('gait_controller', 'terrain_perception', 'sampler'),
    'hardware', '/joint_states at the control rate (same values)', HW_STATE_QOS)
LEG_COMMANDS = TopicSpec(
    '/leg_position_controller/commands', 'std_msgs/msg/Float64MultiArray', COMMAND_QOS, 50.0,
    'gait_controller', ('hardware',), 'hardware', '18 leg joint positions [rad], LEG_JOINTS')
WHEEL_COMMANDS = TopicSpec(
    '/wheel_velocity_controller/commands', 'std_msgs/msg/Float64MultiArray', COMMAND_QOS, 50.0,
    'gait_controller', ('hardware',), 'hardware', '3 wheel speeds [rad/s], WHEEL_JOINTS')
CLAW_COMMANDS = TopicSpec(
    '/claw_effort_controller/commands', 'std_msgs/msg/Float64MultiArray', COMMAND_QOS, 250.0,
    'claw_controller', ('hardware',), 'hardware', '3 claw squeeze forces [N], CLAW_JOINTS')
SAMPLER_FEED_COMMANDS = TopicSpec(
    '/sampler_feed_controller/commands', 'std_msgs/msg/Float64MultiArray', COMMAND_QOS, 50.0,
    'sampler', ('hardware',), 'hardware', 'sampler feed position [m]')
SAMPLER_DRILL_COMMANDS = TopicSpec(
    '/sampler_drill_controller/commands', 'std_msgs/msg/Float64MultiArray', COMMAND_QOS, 50.0,
    'sampler', ('hardware',), 'hardware', 'drill speed [rad/s]')
FT_WRENCHES = tuple(_ft(c) for c in CLAW_LEGS)
FT_WRENCHES_LOW_RATE = tuple(_ft_low_rate(c) for c in CLAW_LEGS)
IMU = TopicSpec(
    '/imu_broadcaster/imu', 'sensor_msgs/msg/Imu', SENSOR_QOS, 200.0, 'hardware',
    ('state_estimator',), 'hardware', 'IMU in imu_link', HW_STATE_QOS)
SAMPLER_MASS = TopicSpec(
    '/sampler/mass', 'std_msgs/msg/Float64', SENSOR_QOS, 20.0, 'hardware', ('sampler',),
    'hardware', 'mass in the sample container [kg]', HW_STATE_QOS)
DEPTH_IMAGE = TopicSpec(
    '/camera/depth/image_raw', 'sensor_msgs/msg/Image', SENSOR_QOS, 10.0, 'hardware',
    ('terrain_perception',), 'hardware',
    'depth image, 32FC1 metres or 16UC1 millimetres', HW_STATE_QOS)
DEPTH_INFO = TopicSpec(
    '/camera/depth/camera_info', 'sensor_msgs/msg/CameraInfo', SENSOR_QOS, 10.0, 'hardware',
    ('terrain_perception',), 'hardware', 'intrinsics of the depth image', HW_STATE_QOS)
GROUND_TRUTH_ODOM = TopicSpec(
    '/ground_truth/odom', 'nav_msgs/msg/Odometry', SENSOR_QOS, 50.0, 'sim', (), 'sim',
    'true pose (sim only: evaluation, never control)', HW_STATE_QOS)
CLOCK = TopicSpec(
    '/clock', 'rosgraph_msgs/msg/Clock', CLOCK_QOS, 100.0, 'sim',
    ('claw_controller', 'state_estimator', 'gait_controller', 'terrain_perception', 'sampler'),
    'sim', 'simulated time (use_sim_time), one for every robot on the graph', scope='global')
ODOM = TopicSpec(
    '/odom', 'nav_msgs/msg/Odometry', STATE_QOS, 50.0, 'state_estimator',
    ('gait_controller', 'terrain_perception', 'sampler', 'mission', 'sim'), 'stack',
    'estimated pose and twist of base_link in odom, with covariance (the sim paces its '
    'world by its stamp)')

CMD_VEL = TopicSpec(
    '/cmd_vel', 'geometry_msgs/msg/Twist', OPERATOR_QOS, 0.0, 'operator', ('gait_controller',),
    'operator', 'teleop body velocity (teleop_twist_keyboard/joy), deadman-timed')
GOAL_POSE = TopicSpec(
    '/goal_pose', 'geometry_msgs/msg/PoseStamped', OPERATOR_QOS, 0.0, 'operator',
    ('gait_controller',), 'operator', 'rviz "2D Goal Pose": drive there')
CLICKED_POINT = TopicSpec(
    '/clicked_point', 'geometry_msgs/msg/PointStamped', OPERATOR_QOS, 0.0, 'operator',
    ('sampler', 'terrain_perception'), 'operator', 'rviz "Publish Point": sampling site')
GAIT_REQUEST = TopicSpec(
    '/gait/request', 'std_msgs/msg/String', OPERATOR_QOS, 0.0, 'operator', ('gait_controller',),
    'operator', 'auto, roll, walk, crawl, anchor or hold')
ESTOP = TopicSpec(
    '/estop', 'std_msgs/msg/Bool', OPERATOR_QOS, 0.0, 'operator',
    ('gait_controller', 'claw_controller', 'sampler'), 'operator',
    'true: stop motion, keep every grip')
DIAGNOSTICS = TopicSpec(
    '/diagnostics', 'diagnostic_msgs/msg/DiagnosticArray', DIAGNOSTICS_QOS, 1.0, 'every node',
    (), 'operator', 'health of every node')

# --- Internal topics between the stack's nodes (standard types only) --------------------------
# Structured state rides as JSON in std_msgs/String: the payload's schema lives beside the
# core type that produces it (encode/decode functions), never in a node.

CLAW_REQUESTS = TopicSpec(
    '/claw_controller/requests', 'std_msgs/msg/String', COMMAND_QOS, 50.0, 'gait_controller',
    ('claw_controller',), 'stack',
    'per-claw requests (grip N, verify pull N, release, hold) as JSON')
CLAW_STATE = TopicSpec(
    '/claw_controller/state', 'std_msgs/msg/String', STATE_QOS, 50.0, 'claw_controller',
    ('gait_controller', 'sampler', 'state_estimator'), 'stack',
    'per-claw mode, squeeze, verified holding force, weak flag, pull requests (JSON)')
CLAW_SLIPS = TopicSpec(
    '/claw_controller/slip_events', 'std_msgs/msg/String', STATE_QOS, 0.0, 'claw_controller',
    (), 'stack', 'one JSON record per slip event (time, claw, cause, load)')
GAIT_MODE = TopicSpec(
    '/gait/mode', 'std_msgs/msg/String', LATCHED_QOS, 0.0, 'gait_controller',
    ('sampler', 'state_estimator', 'mission'), 'stack',
    'current gait mode (roll, walk, crawl, anchor, hold), on change')
GAIT_STATUS = TopicSpec(
    '/gait/status', 'std_msgs/msg/String', LATCHED_QOS, 0.0, 'gait_controller', ('mission',),
    'stack',
    'mode, stage, command source, refusals with reasons (JSON), on change')
GAIT_MARKERS = TopicSpec(
    '/gait/markers', 'visualization_msgs/msg/MarkerArray', STATE_QOS, 5.0, 'gait_controller',
    (), 'stack', 'rviz: the gait mode above the robot, each claw state beside the claw')
MISSION_GOAL = TopicSpec(
    '/mission/goal', 'geometry_msgs/msg/PoseStamped', STATE_QOS, 0.0, 'mission',
    ('gait_controller',), 'stack', "the mission autopilot's goal pose (lowest priority)")
MISSION_STATUS = TopicSpec(
    '/mission/status', 'std_msgs/msg/String', LATCHED_QOS, 0.0, 'mission', ('sampler',),
    'stack',
    'mission phase, current target, samples, done/success/reason (JSON), on change')
SAMPLING_LOAD = TopicSpec(
    '/sampling/load', 'std_msgs/msg/Float64', STATE_QOS, 20.0, 'sampler', ('gait_controller',),
    'stack', 'commanded external load of the sampler (reaction = feed force) [N]')
SAMPLING_STATUS = TopicSpec(
    '/sampling/status', 'std_msgs/msg/String', LATCHED_QOS, 0.0, 'sampler',
    ('mission', 'terrain_perception'), 'stack',
    'sampling phase, attempt, mass, reason, site (JSON), on change')
SAMPLER_LID = TopicSpec(
    '/sampler/lid', 'std_msgs/msg/Bool', COMMAND_QOS, 0.0, 'sampler', ('hardware',),
    'hardware', 'true: open the sample container lid (a small adapter on hardware)')
TERRAIN_SUMMARY = TopicSpec(
    '/terrain/summary', 'std_msgs/msg/String', STATE_QOS, 5.0, 'terrain_perception',
    ('gait_controller', 'sampler'), 'stack',
    'class and traversability under the robot and ahead, grasp candidates, site checks (JSON)')
TERRAIN_TRAVERSABILITY = TopicSpec(
    '/terrain/traversability', 'nav_msgs/msg/OccupancyGrid', LATCHED_QOS, 2.0,
    'terrain_perception', (), 'stack', 'local traversability (0 free .. 100 blocked, -1 unknown)')
TERRAIN_GRASPABILITY = TopicSpec(
    '/terrain/graspability', 'nav_msgs/msg/OccupancyGrid', LATCHED_QOS, 2.0,
    'terrain_perception', (), 'stack', 'local graspability (100 best grip, -1 unknown)')
TERRAIN_GLOBAL = TopicSpec(
    '/terrain/global/traversability', 'nav_msgs/msg/OccupancyGrid', LATCHED_QOS, 0.5,
    'terrain_perception', ('mission',), 'stack', 'whole-patch traversability for route planning')
TERRAIN_ELEVATION = TopicSpec(
    '/terrain/elevation', 'sensor_msgs/msg/PointCloud2', LATCHED_QOS, 2.0,
    'terrain_perception', (), 'stack', 'local elevation: one point per seen cell (x, y, z, var)')
TERRAIN_GRASPS = TopicSpec(
    '/terrain/grasp_candidates', 'geometry_msgs/msg/PoseArray', STATE_QOS, 2.0,
    'terrain_perception', (), 'stack', 'ranked claw grasp poses within reach, in odom')
TERRAIN_MARKERS = TopicSpec(
    '/terrain/markers', 'visualization_msgs/msg/MarkerArray', STATE_QOS, 2.0,
    'terrain_perception', (), 'stack', 'rviz: classes, grasp candidates, summary text')

TOPICS = (
    (JOINT_STATES, JOINT_STATES_LOW_RATE, LEG_COMMANDS, WHEEL_COMMANDS, CLAW_COMMANDS,
     SAMPLER_FEED_COMMANDS, SAMPLER_DRILL_COMMANDS) + FT_WRENCHES + FT_WRENCHES_LOW_RATE
    + (IMU, SAMPLER_MASS, SAMPLER_LID, DEPTH_IMAGE, DEPTH_INFO, GROUND_TRUTH_ODOM, CLOCK,
       ODOM, CMD_VEL, GOAL_POSE, CLICKED_POINT, GAIT_REQUEST, ESTOP, DIAGNOSTICS,
       CLAW_REQUESTS, CLAW_STATE, CLAW_SLIPS, GAIT_MODE, GAIT_STATUS, GAIT_MARKERS,
       MISSION_GOAL, MISSION_STATUS,
       SAMPLING_LOAD, SAMPLING_STATUS, TERRAIN_SUMMARY, TERRAIN_TRAVERSABILITY,
       TERRAIN_GRASPABILITY, TERRAIN_GLOBAL, TERRAIN_ELEVATION, TERRAIN_GRASPS,
       TERRAIN_MARKERS)
)

SAMPLING_START = ServiceSpec('/sampling/start', 'std_srvs/srv/Trigger', 'sampler',
                             'start sampling at the current site')
SAMPLING_ABORT = ServiceSpec('/sampling/abort', 'std_srvs/srv/Trigger', 'sampler',
                             'abort sampling: retract the sampler, keep every grip')
SERVICES = (SAMPLING_START, SAMPLING_ABORT)

#: Topics a robot has beside those declared above (their types are tf2_msgs and std_msgs,
#: published by tf2 broadcasters, robot_state_publisher and the bag recorder), in the root
#: namespace. They move with the robot's namespace like the rest.
TF_TOPIC = '/tf'
TF_STATIC_TOPIC = '/tf_static'
ROBOT_DESCRIPTION_TOPIC = '/robot_description'
#: Remappings every node of a robot gets (launch files, ``space-miner sim``): tf2's
#: broadcasters and listeners use the absolute ``/tf`` and ``/tf_static``; remapped to
#: relative names they follow the node's namespace, one tf tree per robot.
TF_REMAPPINGS = ((TF_TOPIC, 'tf'), (TF_STATIC_TOPIC, 'tf_static'))

_NAME_TOKEN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


def normalize_namespace(namespace: str | None) -> str:
    """Return ``namespace`` as an absolute namespace without a trailing slash (root: '').

    ``'r1'``, ``'/r1'`` and ``'/r1/'`` all give ``'/r1'``; ``''``, ``'/'`` and None give
    ``''``. ValueError for a name ROS would refuse (each token a letter or underscore, then
    letters, digits or underscores).
    """
    text = (namespace or '').strip()
    tokens = [t for t in text.strip('/').split('/')] if text.strip('/') else []
    for token in tokens:
        if not _NAME_TOKEN.fullmatch(token):
            raise ValueError(f'namespace {namespace!r}: {token!r} is not a valid ROS name '
                             'token (a letter or _, then letters, digits or _)')
    return ''.join(f'/{t}' for t in tokens)


def resolve(name: str, namespace: str = '') -> str:
    """Return the absolute name of ``name`` for a node in ``namespace``.

    A relative name (``joint_states``) goes under the namespace (``/r1/joint_states``); an
    absolute one (``/clock``) stays as it is: ROS 2's name resolution, without ``~``.
    """
    if name.startswith('/'):
        return name
    return f'{normalize_namespace(namespace)}/{name}'


def robot_topic_names() -> tuple:
    """Return the root-namespace names of every topic that moves with a robot's namespace."""
    return tuple(s.name for s in TOPICS if s.scope == 'robot') + (
        TF_TOPIC, TF_STATIC_TOPIC, ROBOT_DESCRIPTION_TOPIC)


def global_topic_names() -> tuple:
    """Return the names that stay global whatever the robot's namespace (``/clock``)."""
    return tuple(s.name for s in TOPICS if s.scope == 'global')


def root_name(name: str, namespace: str) -> str | None:
    """Return the root-namespace name of ``name`` recorded under ``namespace``.

    ``/r1/joint_states`` under ``/r1`` is ``/joint_states``; a global name is itself; a name
    outside the namespace is None. Inverse of :func:`resolve` for the robot's names.
    """
    namespace = normalize_namespace(namespace)
    if name in global_topic_names():
        return name
    if not namespace:
        return name
    if name.startswith(namespace + '/'):
        return name[len(namespace):]
    return None


def namespaces_in(names) -> dict:
    """Return ``{namespace: count}`` of the robots whose topics ``names`` holds.

    A name counts for the namespace in front of the longest declared robot topic it ends
    with (``/r1/ground_truth/odom`` is ``/ground_truth/odom`` under ``/r1``, not ``/odom``
    under ``/r1/ground_truth``); a name equal to a declared one counts for the root
    namespace ``''``. Names that are no robot's topic are not counted.
    """
    robot = sorted(robot_topic_names(), key=len, reverse=True)
    counts: dict = {}
    for name in names:
        for root in robot:
            if name == root:
                counts[''] = counts.get('', 0) + 1
                break
            if name.endswith(root):
                prefix = name[:-len(root)]
                try:
                    if normalize_namespace(prefix) == prefix:
                        counts[prefix] = counts.get(prefix, 0) + 1
                        break
                except ValueError:
                    pass
    return counts


#: The hardware side's command topics and the joints each carries, in order.
COMMAND_JOINTS = {
    LEG_COMMANDS.name: LEG_JOINTS,
    WHEEL_COMMANDS.name: WHEEL_JOINTS,
    CLAW_COMMANDS.name: CLAW_JOINTS,
    SAMPLER_FEED_COMMANDS.name: SAMPLER_FEED_JOINTS,
    SAMPLER_DRILL_COMMANDS.name: SAMPLER_DRILL_JOINTS,
}

#: Messages one process delivers through an executor (measured, DESIGN.md section 1), and the
#: share of it the live graph may plan to use.
EXECUTOR_BUDGET_MSGS_PER_S = 5700.0
EXECUTOR_BUDGET_FRACTION = 0.7


def topic(name: str) -> TopicSpec:
    """Return the declared topic called ``name`` (KeyError naming it otherwise)."""
    for spec in TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(f'topic {name!r} is not declared in space_miner/interfaces.py')


def msg_class(type_name: str) -> Any:
    """Import and return the message or service class for ``'pkg/msg/Name'``."""
    package, kind, name = type_name.split('/')
    module = importlib.import_module(f'{package}.{kind}')
    return getattr(module, name)


def subscriber_load(process_nodes: tuple) -> float:
    """Messages per second the nodes in one process receive (rate x subscriptions)."""
    load = 0.0
    for spec in TOPICS:
        load += spec.rate_hz * sum(1 for node in spec.subscribers if node in process_nodes)
    return load


def markdown_table() -> str:
    """Render the README's interface table from the declarations above."""
    lines = ['| topic / service | in a node | type | QoS | rate (Hz) | '
             'publisher → subscribers | meaning |',
             '|---|---|---|---|---|---|---|']

    def scope(name: str) -> str:
        return f'`{name}` (global)' if name.startswith('/') else f'`{name}` (relative)'

    for spec in TOPICS:
        qos = spec.qos.name if spec.publisher_qos is None else \
            f'{spec.publisher_qos.name} → {spec.qos.name}'
        rate = f'{spec.rate_hz:g}' if spec.rate_hz else 'event'
        subs = ', '.join(spec.subscribers) or '(tools, rviz, rosbag)'
        lines.append(f'| `{spec.name}` | {scope(spec.ros_name)} | {spec.msg_type} | {qos} | '
                     f'{rate} | {spec.publisher} → {subs} | {spec.description} |')
    for srv in SERVICES:
        lines.append(f'| `{srv.name}` (service) | {scope(srv.ros_name)} | {srv.srv_type} | '
                     f'services | call | {srv.server} | {srv.description} |')
    for name, relative in TF_REMAPPINGS:
        lines.append(f'| `{name}` | `{relative}` (remapped) | tf2_msgs/msg/TFMessage | '
                     f'(tf2) | - | tf2 broadcasters → tools, rviz | the robot\'s own tf tree |')
    lines.append('')
    lines.append('| QoS | reliability | durability | depth |')
    lines.append('|---|---|---|---|')
    for qos in QOS_PROFILES:
        lines.append(f'| {qos.name} | {qos.reliability} | {qos.durability} | {qos.depth} |')
    return '\n'.join(lines)


if __name__ == '__main__':
    print(markdown_table())
