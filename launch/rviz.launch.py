# SPDX-License-Identifier: Apache-2.0
"""rviz2 with the space_miner configuration (maps, grasp candidates, camera, teleop tools).

Arguments: ``use_sim_time``. Tools: "2D Goal Pose" publishes ``/goal_pose`` (drive there),
"Publish Point" publishes ``/clicked_point`` (the sampling site).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """Launch rviz2 with config/space_miner.rviz."""
    config = PathJoinSubstitution([FindPackageShare('space_miner'), 'config',
                                   'space_miner.rviz'])
    return LaunchDescription([
        DeclareLaunchArgument('use_sim_time', default_value='true', description='use /clock'),
        Node(package='rviz2', executable='rviz2', output='screen', arguments=['-d', config],
             parameters=[{'use_sim_time': LaunchConfiguration('use_sim_time')}]),
    ])
