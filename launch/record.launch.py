# SPDX-License-Identifier: Apache-2.0
"""Record the contract and stack topics with ``ros2 bag record`` (MCAP).

Arguments: ``output`` (the bag directory, default ``space_miner_bag``), ``use_sim_time``.
The topic list is interfaces.py's (every declared topic) plus ``/tf``, ``/tf_static`` and
``/robot_description``, so ``space-miner analyze`` and rviz can use the bag.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration

from space_miner import interfaces


def recorded_topics() -> list:
    """Return the topics a recording holds."""
    return [t.name for t in interfaces.TOPICS] + ['/tf', '/tf_static', '/robot_description']


def generate_launch_description():
    """Launch ros2 bag record on the declared topics."""
    return LaunchDescription([
        DeclareLaunchArgument('output', default_value='space_miner_bag',
                              description='bag directory'),
        DeclareLaunchArgument('use_sim_time', default_value='true', description='use /clock'),
        ExecuteProcess(cmd=['ros2', 'bag', 'record', '--storage', 'mcap', '--output',
                            LaunchConfiguration('output'), *recorded_topics()],
                       output='screen'),
    ])
