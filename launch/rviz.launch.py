# SPDX-License-Identifier: Apache-2.0
"""rviz2 with the space_miner configuration (maps, grasp candidates, camera, teleop tools).

Arguments: ``use_sim_time``, ``namespace`` (the robot to show and drive). Tools: "2D Goal
Pose" publishes ``/goal_pose`` (drive there), "Publish Point" publishes ``/clicked_point``
(the sampling site). Under a namespace, rviz2 runs in it with ``/tf`` and ``/tf_static``
remapped to the robot's, on a copy of the config whose topics are the robot's there
(``/r1/odom``, ``/r1/goal_pose``: :func:`space_miner.rviz_config.namespaced`).
"""

from pathlib import Path
import tempfile

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from space_miner.interfaces import normalize_namespace, TF_REMAPPINGS
from space_miner.rviz_config import namespaced


def _rviz(context):
    config = Path(FindPackageShare('space_miner').perform(context)) / 'config' / \
        'space_miner.rviz'
    namespace = normalize_namespace(LaunchConfiguration('namespace').perform(context))
    if namespace:
        handle = tempfile.NamedTemporaryFile(
            'w', prefix=f"space_miner_{namespace.strip('/').replace('/', '_')}_",
            suffix='.rviz', delete=False, encoding='utf-8')
        with handle:
            handle.write(namespaced(config.read_text(encoding='utf-8'), namespace))
        config = Path(handle.name)
    return [Node(package='rviz2', executable='rviz2', output='screen',
                 namespace=namespace, remappings=list(TF_REMAPPINGS),
                 arguments=['-d', str(config)],
                 parameters=[{'use_sim_time': LaunchConfiguration('use_sim_time')}])]


def generate_launch_description():
    """Launch rviz2 with config/space_miner.rviz (moved into the robot's namespace)."""
    return LaunchDescription([
        DeclareLaunchArgument('use_sim_time', default_value='true', description='use /clock'),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        OpaqueFunction(function=_rviz),
    ])
