# SPDX-License-Identifier: Apache-2.0
"""Publish the robot description: robot_state_publisher on the expanded xacro.

Arguments: ``hardware_plugin`` (ros2_control plugin written into the URDF),
``use_sim_time``, ``namespace`` (the robot's: ``robot_description`` and, remapped, ``tf``
and ``tf_static`` go under it). Needs a ROS 2 install (launch, launch_ros,
robot_state_publisher, xacro).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import Command, FindExecutable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from space_miner.interfaces import TF_REMAPPINGS


def generate_launch_description():
    """Launch robot_state_publisher with the space_miner URDF."""
    xacro_file = PathJoinSubstitution(
        [FindPackageShare('space_miner'), 'urdf', 'space_miner.urdf.xacro'])
    description = ParameterValue(Command([
        FindExecutable(name='xacro'), ' ', xacro_file,
        ' hardware_plugin:=', LaunchConfiguration('hardware_plugin')]), value_type=str)
    return LaunchDescription([
        DeclareLaunchArgument('hardware_plugin', default_value='mock_components/GenericSystem',
                              description='ros2_control hardware plugin in the URDF'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='use /clock (simulators)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace for the description nodes'),
        Node(package='robot_state_publisher', executable='robot_state_publisher',
             namespace=LaunchConfiguration('namespace'), output='screen',
             remappings=list(TF_REMAPPINGS),
             parameters=[{'robot_description': description,
                          'use_sim_time': LaunchConfiguration('use_sim_time')}]),
    ])
