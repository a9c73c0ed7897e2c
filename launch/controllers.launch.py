# SPDX-License-Identifier: Apache-2.0
"""Spawn every controller of config/ros2_controllers.yaml (Gazebo and hardware bringups).

Arguments: ``controller_manager`` (its node name, default ``controller_manager``: relative,
so in the robot's namespace), ``use_sim_time``, ``namespace`` (the robot's: the spawners run
there, so the controllers' topics are the robot's). The controllers are read from the
installed YAML, so the spawned set is always exactly the interface contract's.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
import yaml


def controller_names(controllers_yaml: Path) -> list:
    """Return the controllers the controller manager declares, broadcasters first."""
    with open(controllers_yaml, encoding='utf-8') as handle:
        declared = yaml.safe_load(handle)['controller_manager']['ros__parameters']
    names = [n for n, v in declared.items() if isinstance(v, dict) and 'type' in v]
    return sorted(names, key=lambda n: (not n.endswith('broadcaster'), n))


def generate_launch_description():
    """Spawn the contract's controllers."""
    share = Path(get_package_share_directory('space_miner'))
    manager = LaunchConfiguration('controller_manager')
    spawners = [
        Node(package='controller_manager', executable='spawner', output='screen',
             namespace=LaunchConfiguration('namespace'),
             arguments=[name, '--controller-manager', manager],
             parameters=[{'use_sim_time': LaunchConfiguration('use_sim_time')}])
        for name in controller_names(share / 'config' / 'ros2_controllers.yaml')]
    return LaunchDescription([
        DeclareLaunchArgument('controller_manager', default_value='controller_manager',
                              description='controller manager node (relative: in the '
                                          "robot's namespace)"),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='use /clock'),
        *spawners,
    ])
