# SPDX-License-Identifier: Apache-2.0
"""The real robot: ros2_control_node with its hardware plugin, the controllers, the stack.

Arguments: ``hardware_plugin`` (the robot's ros2_control SystemInterface plugin; default
``mock_components/GenericSystem`` to dry-run the bringup without hardware),
``use_sim_time`` (false), ``rviz``, ``record``, ``namespace`` (the robot's: ros2_control,
its controllers, the description, the stack, rviz and the recording all run in it). The
hardware must also publish ``sampler/mass`` (a small adapter from the container's load
cell) and ``camera/depth/*`` (the depth camera's driver), in the robot's namespace.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import (Command, FindExecutable, LaunchConfiguration,
                                  PathJoinSubstitution)
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from space_miner.interfaces import TF_REMAPPINGS


def _share(*parts):
    return PathJoinSubstitution([FindPackageShare('space_miner'), *parts])


def _include(name, condition=None, **arguments):
    return IncludeLaunchDescription(PythonLaunchDescriptionSource(_share('launch', name)),
                                    launch_arguments=list(arguments.items()),
                                    condition=condition)


def generate_launch_description():
    """Launch ros2_control on the hardware plugin, the controllers and the stack."""
    use_sim_time = LaunchConfiguration('use_sim_time')
    namespace = LaunchConfiguration('namespace')
    description = ParameterValue(Command([
        FindExecutable(name='xacro'), ' ', _share('urdf', 'space_miner.urdf.xacro'),
        ' hardware_plugin:=', LaunchConfiguration('hardware_plugin')]), value_type=str)
    return LaunchDescription([
        DeclareLaunchArgument('hardware_plugin', default_value='mock_components/GenericSystem',
                              description='ros2_control hardware plugin of the robot'),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='use /clock'),
        DeclareLaunchArgument('rviz', default_value='false', description='start rviz'),
        DeclareLaunchArgument('record', default_value='false', description='record (MCAP)'),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        Node(package='controller_manager', executable='ros2_control_node', output='screen',
             namespace=namespace,
             parameters=[{'robot_description': description},
                         _share('config', 'ros2_controllers.yaml')]),
        Node(package='robot_state_publisher', executable='robot_state_publisher',
             namespace=namespace, output='screen', remappings=list(TF_REMAPPINGS),
             parameters=[{'robot_description': description, 'use_sim_time': use_sim_time}]),
        _include('controllers.launch.py', use_sim_time=use_sim_time, namespace=namespace),
        _include('stack.launch.py', use_sim_time=use_sim_time, namespace=namespace),
        _include('rviz.launch.py', IfCondition(LaunchConfiguration('rviz')),
                 use_sim_time=use_sim_time, namespace=namespace),
        _include('record.launch.py', IfCondition(LaunchConfiguration('record')),
                 use_sim_time=use_sim_time, namespace=namespace),
    ])
