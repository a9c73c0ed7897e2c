# SPDX-License-Identifier: Apache-2.0
"""The space_miner stack: the same six nodes whatever serves the hardware interface.

Included by sim.launch.py, gazebo.launch.py and hardware.launch.py. Arguments:
``use_sim_time``, ``namespace``, ``scenario`` (a scenario file: the stack works on its body,
mission and start pose, as ``space-miner sim`` sets it up; empty: the nodes' config) and
``sample_log`` (the sampler's sample log; empty: ``config/sampler.yaml``'s). Each node reads
its defaults from ``config/<node>.yaml``; the lifecycle nodes (claw_controller, sampler) are
configured and then activated here. ``namespace`` moves the whole stack: every node uses
relative names (``/clock`` aside) and gets ``/tf`` and ``/tf_static`` remapped to ``tf`` and
``tf_static``. A scenario file that does not load ends the launch
before any node starts, with the loader's error naming the key.
"""

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, OpaqueFunction,
                            RegisterEventHandler)
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

from space_miner.interfaces import TF_REMAPPINGS

#: (executable, node name, lifecycle?) of the stack, in start order.
STACK_NODES = (
    ('state_estimator', 'state_estimator', False),
    ('terrain_perception', 'terrain_perception', False),
    ('claw_controller', 'claw_controller', True),
    ('gait_controller', 'gait_controller', False),
    ('sampler', 'sampler', True),
    ('mission', 'mission', False),
)


def _config(name):
    return PathJoinSubstitution([FindPackageShare('space_miner'), 'config', f'{name}.yaml'])


def _lifecycle(executable, name, parameters, namespace):
    node = LifecycleNode(package='space_miner', executable=executable, name=name,
                         namespace=namespace, parameters=parameters, output='screen',
                         remappings=list(TF_REMAPPINGS))
    configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                            transition_id=Transition.TRANSITION_CONFIGURE))
    activate = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, goal_state='inactive',
        entities=[EmitEvent(event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=Transition.TRANSITION_ACTIVATE))]))
    return [node, activate, configure]


def _scenario_parameters(scenario_path, sample_log):
    """Per node, the parameters a scenario sets (space_miner.live's, one source)."""
    if not scenario_path and not sample_log:
        return {}
    from pathlib import Path

    from space_miner.core.scenario import load_scenario
    from space_miner.live import stack_overrides

    out = {}
    if scenario_path:
        path = str(Path(scenario_path).resolve())
        scenario = load_scenario(path)  # ConfigError names the key: the launch ends
        for _, name, _ in STACK_NODES:
            values = stack_overrides(f'space_miner.nodes.{name}', scenario, path, None)
            values.pop('use_sim_time')  # the launch argument's
            out[name] = values
    if sample_log:
        out.setdefault('sampler', {})['sample_log_path'] = str(Path(sample_log).resolve())
    return out


def _stack(context):
    use_sim_time = LaunchConfiguration('use_sim_time')
    namespace = LaunchConfiguration('namespace')
    overrides = _scenario_parameters(LaunchConfiguration('scenario').perform(context),
                                     LaunchConfiguration('sample_log').perform(context))
    entities = []
    for executable, name, lifecycle in STACK_NODES:
        parameters = [_config(name), {'use_sim_time': use_sim_time, **overrides.get(name, {})}]
        if lifecycle:
            entities += _lifecycle(executable, name, parameters, namespace)
        else:
            entities.append(Node(package='space_miner', executable=executable, name=name,
                                 namespace=namespace, parameters=parameters, output='screen',
                                 remappings=list(TF_REMAPPINGS)))
    return entities


def generate_launch_description():
    """Launch the stack's nodes."""
    return LaunchDescription([
        DeclareLaunchArgument('use_sim_time', default_value='true',
                              description='use /clock (simulators); false on hardware'),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        DeclareLaunchArgument('scenario', default_value='',
                              description="scenario file: its body, mission and start pose; "
                                          "'': the nodes' config"),
        DeclareLaunchArgument('sample_log', default_value='',
                              description="the sampler's sample log (JSON lines); '': "
                                          "config/sampler.yaml's"),
        OpaqueFunction(function=_stack),
    ])
