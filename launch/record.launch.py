# SPDX-License-Identifier: Apache-2.0
"""Record the contract and stack topics with ``ros2 bag record`` (MCAP).

Arguments: ``output`` (the bag directory, default ``space_miner_bag``), ``use_sim_time``,
``namespace`` (the robot's). The topic list is interfaces.py's (every declared topic) plus
``/tf``, ``/tf_static`` and ``/robot_description``, so ``space-miner analyze`` and rviz can
use the bag; under a namespace each is recorded by its name there (``/r1/odom``, ``/r1/tf``;
``/clock`` global), and ``space-miner analyze`` finds the robot from those names.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from space_miner import interfaces


def recorded_topics(namespace: str = '') -> list:
    """Return the topics a recording of the robot in ``namespace`` holds."""
    extra = ['/tf', '/tf_static', '/robot_description']
    return [t.resolved(namespace) for t in interfaces.TOPICS] + [
        interfaces.resolve(name.lstrip('/'), namespace) for name in extra]


def _record(context):
    topics = recorded_topics(LaunchConfiguration('namespace').perform(context))
    return [ExecuteProcess(cmd=['ros2', 'bag', 'record', '--storage', 'mcap', '--output',
                                LaunchConfiguration('output'), *topics],
                           output='screen')]


def generate_launch_description():
    """Launch ros2 bag record on the declared topics."""
    return LaunchDescription([
        DeclareLaunchArgument('output', default_value='space_miner_bag',
                              description='bag directory'),
        DeclareLaunchArgument('use_sim_time', default_value='true', description='use /clock'),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        OpaqueFunction(function=_record),
    ])
