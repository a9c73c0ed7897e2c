# SPDX-License-Identifier: Apache-2.0
"""The space_miner stack: the same six nodes whatever serves the hardware interface.

Included by sim.launch.py, gazebo.launch.py and hardware.launch.py. Arguments:
``use_sim_time``, ``namespace``. Each node reads its defaults from
``config/<node>.yaml``; the lifecycle nodes (claw_controller, sampler) are configured and
then activated here.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

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
                         namespace=namespace, parameters=parameters, output='screen')
    configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                            transition_id=Transition.TRANSITION_CONFIGURE))
    activate = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, goal_state='inactive',
        entities=[EmitEvent(event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=Transition.TRANSITION_ACTIVATE))]))
    return [node, activate, configure]


def generate_launch_description():
    """Launch the stack's nodes."""
    use_sim_time = LaunchConfiguration('use_sim_time')
    namespace = LaunchConfiguration('namespace')
    entities = [
        DeclareLaunchArgument('use_sim_time', default_value='true',
                              description='use /clock (simulators); false on hardware'),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
    ]
    for executable, name, lifecycle in STACK_NODES:
        parameters = [_config(name), {'use_sim_time': use_sim_time}]
        if lifecycle:
            entities += _lifecycle(executable, name, parameters, namespace)
        else:
            entities.append(Node(package='space_miner', executable=executable, name=name,
                                 namespace=namespace, parameters=parameters, output='screen'))
    return LaunchDescription(entities)
