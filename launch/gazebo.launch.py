# SPDX-License-Identifier: Apache-2.0
"""The robot in Gazebo (gz sim) through gz_ros2_control, with the whole stack.

Arguments: ``world`` (an SDF world, default ``empty.sdf``), ``use_sim_time`` (true),
``rviz``, ``record``, ``namespace``. Starts gz sim, robot_state_publisher on the xacro
with ``gazebo:=true hardware_plugin:=gz_ros2_control/GazeboSimSystem``, spawns the robot
from ``robot_description``, spawns the contract's controllers, bridges ``/clock`` (global)
and the depth camera (into the robot's namespace) with ros_gz_bridge, and starts the stack
with use_sim_time. Under a ``namespace`` the description, the spawn, the bridge's camera,
the spawners, the stack, rviz and the recording run in it, and the xacro's ``namespace``
argument gives gz_ros2_control's controller manager the same (``<ros><namespace>``).
Gazebo has no sample container:
``sampler/mass`` needs an adapter of your own there (see the README).
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


def _include(path, condition=None, **arguments):
    return IncludeLaunchDescription(PythonLaunchDescriptionSource(path),
                                    launch_arguments=list(arguments.items()),
                                    condition=condition)


def generate_launch_description():
    """Launch Gazebo, the robot, its controllers, the bridges and the stack."""
    use_sim_time = LaunchConfiguration('use_sim_time')
    namespace = LaunchConfiguration('namespace')
    description = ParameterValue(Command([
        FindExecutable(name='xacro'), ' ', _share('urdf', 'space_miner.urdf.xacro'),
        ' gazebo:=true hardware_plugin:=gz_ros2_control/GazeboSimSystem',
        ' controllers_config:=', _share('config', 'ros2_controllers.yaml'),
        ' namespace:=', namespace]), value_type=str)
    gz_sim = PathJoinSubstitution([FindPackageShare('ros_gz_sim'), 'launch', 'gz_sim.launch.py'])
    return LaunchDescription([
        DeclareLaunchArgument('world', default_value='empty.sdf', description='SDF world'),
        DeclareLaunchArgument('use_sim_time', default_value='true', description='use /clock'),
        DeclareLaunchArgument('rviz', default_value='false', description='start rviz'),
        DeclareLaunchArgument('record', default_value='false', description='record (MCAP)'),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        _include(gz_sim, gz_args=['-r ', LaunchConfiguration('world')]),
        Node(package='robot_state_publisher', executable='robot_state_publisher',
             namespace=namespace, output='screen', remappings=list(TF_REMAPPINGS),
             parameters=[{'robot_description': description, 'use_sim_time': use_sim_time}]),
        Node(package='ros_gz_sim', executable='create', output='screen', namespace=namespace,
             arguments=['-topic', 'robot_description', '-name', 'space_miner', '-z', '0.35']),
        Node(package='ros_gz_bridge', executable='parameter_bridge', output='screen',
             namespace=namespace,
             arguments=['/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock',
                        '/camera/depth@sensor_msgs/msg/Image[gz.msgs.Image',
                        '/camera/camera_info@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo'],
             remappings=[('/camera/depth', 'camera/depth/image_raw'),
                         ('/camera/camera_info', 'camera/depth/camera_info')]),
        _include(_share('launch', 'controllers.launch.py'), use_sim_time=use_sim_time,
                 namespace=namespace),
        _include(_share('launch', 'stack.launch.py'), use_sim_time=use_sim_time,
                 namespace=namespace),
        _include(_share('launch', 'rviz.launch.py'), IfCondition(LaunchConfiguration('rviz')),
                 use_sim_time=use_sim_time, namespace=namespace),
        _include(_share('launch', 'record.launch.py'),
                 IfCondition(LaunchConfiguration('record')), use_sim_time=use_sim_time,
                 namespace=namespace),
    ])
