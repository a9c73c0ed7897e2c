# SPDX-License-Identifier: Apache-2.0
"""The robot on the embedded MuJoCo simulator, with the whole stack.

Arguments: ``scenario`` (a scenario file; empty: ``config/scenarios/body_<body>.yaml`` when
``body`` is given, else the shipped default), ``body``, ``use_sim_time`` (true),
``rviz`` (false), ``record`` (false), ``namespace``. Starts the sim node (serving the
hardware interface and ``/clock``), robot_state_publisher for the joint frames, the stack,
and optionally rviz and a recording.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def _share(*parts):
    return PathJoinSubstitution([FindPackageShare('space_miner'), *parts])


def _include(name, **arguments):
    return IncludeLaunchDescription(
        PythonLaunchDescriptionSource(_share('launch', name)),
        launch_arguments=list(arguments.items()))


def _sim_node(context):
    scenario = LaunchConfiguration('scenario').perform(context)
    body = LaunchConfiguration('body').perform(context)
    if not scenario and body:
        scenario = _share('config', 'scenarios', f'body_{body}.yaml').perform(context)
    return [Node(package='space_miner', executable='sim_node', name='mujoco_sim',
                 namespace=LaunchConfiguration('namespace'), output='screen',
                 parameters=[_share('config', 'sim.yaml'), {'scenario': scenario}])]


def generate_launch_description():
    """Launch the embedded simulator, the description and the stack."""
    use_sim_time = LaunchConfiguration('use_sim_time')
    namespace = LaunchConfiguration('namespace')
    return LaunchDescription([
        DeclareLaunchArgument('scenario', default_value='', description='scenario file'),
        DeclareLaunchArgument('body', default_value='',
                              description='a body of config/bodies.yaml (its scenario)'),
        DeclareLaunchArgument('use_sim_time', default_value='true', description='use /clock'),
        DeclareLaunchArgument('rviz', default_value='false', description='start rviz'),
        DeclareLaunchArgument('record', default_value='false',
                              description='record the contract topics (MCAP)'),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        OpaqueFunction(function=_sim_node),
        _include('description.launch.py', use_sim_time=use_sim_time, namespace=namespace),
        _include('stack.launch.py', use_sim_time=use_sim_time, namespace=namespace),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(_share('launch', 'rviz.launch.py')),
                                 launch_arguments=[('use_sim_time', use_sim_time)],
                                 condition=IfCondition(LaunchConfiguration('rviz'))),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(_share('launch', 'record.launch.py')),
            launch_arguments=[('use_sim_time', use_sim_time)],
            condition=IfCondition(LaunchConfiguration('record'))),
    ])
