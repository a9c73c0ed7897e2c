# SPDX-License-Identifier: Apache-2.0
"""The robot on the embedded MuJoCo simulator, with the whole stack.

Arguments: ``scenario`` (a scenario file; empty: ``config/scenarios/body_<body>.yaml`` when
``body`` is given, else the shipped default), ``body``; the sim node's ``seed``,
``real_time_factor``, ``camera_width_px`` and ``camera_height_px`` (empty:
``config/sim.yaml``'s); ``summary`` (write the run's summary there, with the sample log
``samples.jsonl`` beside it) and ``exit_at_end`` (end the launch when the run is over: the
mission done, the time limit reached, the robot detached — as ``space-miner sim`` does);
``use_sim_time`` (true), ``description`` (true: robot_state_publisher), ``rviz`` (false),
``record`` (false), ``namespace`` (the robot's: the sim node's hardware topics, the
description, the stack, rviz and the recording all move under it; ``/clock`` stays
global). Starts the sim node (serving the hardware interface and
``/clock``), robot_state_publisher for the joint frames, the stack on the scenario, and
optionally rviz and a recording; ``description:=false`` is the headless run where
robot_state_publisher is not installed.

Every argument is checked before anything starts: an unknown body, a scenario that does
not load, or a sim parameter out of its range ends the launch with an error naming the
argument. The launch ends when the sim node does.
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, IncludeLaunchDescription,
                            OpaqueFunction, RegisterEventHandler)
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from space_miner.interfaces import TF_REMAPPINGS

#: Sim node parameters a launch argument of the same name sets ('' keeps sim.yaml's).
SIM_ARGUMENTS = ('seed', 'real_time_factor', 'camera_width_px', 'camera_height_px')
TRUE, FALSE = ('true', '1', 'yes', 'on'), ('false', '0', 'no', 'off')


def _share(*parts):
    return PathJoinSubstitution([FindPackageShare('space_miner'), *parts])


def _include(name, condition=None, **arguments):
    return IncludeLaunchDescription(
        PythonLaunchDescriptionSource(_share('launch', name)),
        launch_arguments=list(arguments.items()), condition=condition)


def _argument_error(name, text, why):
    return ValueError(f'launch argument {name}:={text!r}: {why}')


def _boolean(context, name):
    text = LaunchConfiguration(name).perform(context)
    if text.lower() not in TRUE + FALSE:
        raise _argument_error(name, text, 'must be true or false')
    return text.lower() in TRUE


def _scenario_path(context):
    """Return the scenario file the arguments name, checked; '' for the shipped default."""
    from space_miner.core.robot import ConfigError
    from space_miner.core.scenario import load_bodies, load_scenario
    from space_miner.paths import config_path

    scenario = LaunchConfiguration('scenario').perform(context)
    body = LaunchConfiguration('body').perform(context)
    if body:
        bodies = load_bodies()
        if body not in bodies:
            raise _argument_error('body', body, 'not a body of config/bodies.yaml (one of '
                                  f"{', '.join(sorted(bodies))})")
        if not scenario:
            scenario = str(config_path(f'scenarios/body_{body}.yaml'))
    name = 'scenario' if LaunchConfiguration('scenario').perform(context) else 'body'
    if scenario:
        scenario = str(Path(scenario).resolve())
    try:
        loaded = load_scenario(scenario or None)
    except (ConfigError, OSError) as err:
        raise _argument_error(name, scenario, err) from None
    if body and loaded.body != body:
        raise _argument_error('body', body, f'the scenario {scenario} is on {loaded.body}')
    return scenario


def _sim_parameters(context):
    """Sim node parameters set by launch arguments, each checked against its range."""
    from space_miner.sim.sim_node import PARAMS

    specs = {spec.name: spec for spec in PARAMS}
    values = {}
    for name in SIM_ARGUMENTS:
        text = LaunchConfiguration(name).perform(context).strip()
        if not text:
            continue
        spec = specs[name]
        try:
            value = spec.kind(text)
        except ValueError:
            kind = {int: 'an integer', float: 'a number'}.get(spec.kind, spec.kind.__name__)
            raise _argument_error(name, text, f'must be {kind}') from None
        why = spec.check(value)
        if why:
            raise _argument_error(name, text, why)
        values[name] = value
    return values


def _end_launch(context):
    """End the launch when the simulator ended, unless it is already ending.

    (A second Shutdown while the launch shuts down makes launch_ros raise, and the launch
    exit with 1 after a clean Ctrl-C.)
    """
    if context.is_shutdown:
        return None
    return [EmitEvent(event=Shutdown(reason='the simulator ended'))]


def _bringup(context):
    """Check every argument, then start the sim node, the description and the stack."""
    scenario = _scenario_path(context)
    sim_parameters = _sim_parameters(context)
    summary = LaunchConfiguration('summary').perform(context)
    summary = str(Path(summary).resolve()) if summary else ''
    exit_at_end = _boolean(context, 'exit_at_end')
    for name in ('description', 'rviz', 'record'):
        _boolean(context, name)
    use_sim_time = LaunchConfiguration('use_sim_time')
    namespace = LaunchConfiguration('namespace')
    sim = Node(package='space_miner', executable='sim_node', name='mujoco_sim',
               namespace=namespace, output='screen', remappings=list(TF_REMAPPINGS),
               parameters=[_share('config', 'sim.yaml'), {
                   'scenario': scenario, 'summary_path': summary,
                   'exit_at_end': exit_at_end, **sim_parameters}])
    sample_log = str(Path(summary).parent / 'samples.jsonl') if summary else ''
    return [
        sim,
        RegisterEventHandler(OnProcessExit(target_action=sim, on_exit=[
            OpaqueFunction(function=_end_launch)])),
        _include('description.launch.py', IfCondition(LaunchConfiguration('description')),
                 use_sim_time=use_sim_time, namespace=namespace),
        _include('stack.launch.py', use_sim_time=use_sim_time, namespace=namespace,
                 scenario=scenario, sample_log=sample_log),
        _include('rviz.launch.py', IfCondition(LaunchConfiguration('rviz')),
                 use_sim_time=use_sim_time, namespace=namespace),
        _include('record.launch.py', IfCondition(LaunchConfiguration('record')),
                 use_sim_time=use_sim_time, namespace=namespace),
    ]


def generate_launch_description():
    """Launch the embedded simulator, the description and the stack."""
    return LaunchDescription([
        DeclareLaunchArgument('scenario', default_value='', description='scenario file'),
        DeclareLaunchArgument('body', default_value='',
                              description='a body of config/bodies.yaml (its scenario)'),
        DeclareLaunchArgument('seed', default_value='',
                              description="terrain and noise seed ('': sim.yaml's)"),
        DeclareLaunchArgument('real_time_factor', default_value='',
                              description="simulated over wall time, 0: as fast as possible "
                                          "('': sim.yaml's)"),
        DeclareLaunchArgument('camera_width_px', default_value='',
                              description="depth image width ('': sim.yaml's)"),
        DeclareLaunchArgument('camera_height_px', default_value='',
                              description="depth image height ('': sim.yaml's)"),
        DeclareLaunchArgument('summary', default_value='',
                              description="write the run's summary (JSON) here; '': none"),
        DeclareLaunchArgument('exit_at_end', default_value='false',
                              description='end the launch when the run is over'),
        DeclareLaunchArgument('use_sim_time', default_value='true', description='use /clock'),
        DeclareLaunchArgument('description', default_value='true',
                              description='start robot_state_publisher (false: headless, '
                                          'without it)'),
        DeclareLaunchArgument('rviz', default_value='false', description='start rviz'),
        DeclareLaunchArgument('record', default_value='false',
                              description='record the contract topics (MCAP)'),
        DeclareLaunchArgument('namespace', default_value='', description='robot namespace'),
        OpaqueFunction(function=_bringup),
    ])
