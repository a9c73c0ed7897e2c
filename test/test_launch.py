# SPDX-License-Identifier: Apache-2.0
"""Launch files and the rviz config held to the truth, read as source.

Every launch file, including those that start what is not installable here (rviz2,
robot_state_publisher, Gazebo, controller_manager: DESIGN.md section 1): every executable
they start is a console script setup.py declares; every file they name exists; every
parameter in a node's config file is one the node declares, within its range; every topic
the rviz config shows is declared in interfaces.py; each bringup takes the documented
arguments. ``test_ros2_launch.py`` runs ``stack.launch.py`` and ``sim.launch.py`` for real.
"""

import ast
import importlib
from pathlib import Path

import pytest
import yaml

from space_miner import interfaces

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / 'launch'
LAUNCH_FILES = sorted(LAUNCH.glob('*.launch.py'))
#: node name -> module exposing NODE_NAME and PARAMS (tuple of nodes.params.ParamSpec).
NODE_MODULES = {
    'mujoco_sim': 'space_miner.sim.sim_node',
    'claw_controller': 'space_miner.nodes.claw_controller',
    'state_estimator': 'space_miner.nodes.state_estimator',
    'terrain_perception': 'space_miner.nodes.terrain_perception',
    'gait_controller': 'space_miner.nodes.gait_controller',
    'sampler': 'space_miner.nodes.sampler',
    'mission': 'space_miner.nodes.mission',
}
CONFIG_OF = {'mujoco_sim': 'sim.yaml'}
#: Launch files of other packages the bringups include.
EXTERNAL_LAUNCH = {'gz_sim.launch.py'}  # ros_gz_sim's


def _tree(path):
    return ast.parse(path.read_text(), str(path))


def _console_scripts():
    tree = _tree(ROOT / 'setup.py')
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    return {ast.literal_eval(e).split('=')[0].strip() for e in value.elts}
    raise AssertionError('setup.py declares no console_scripts')


def _space_miner_executables(path):
    """Executables of package space_miner a launch file starts (keywords and STACK_NODES)."""
    found = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call):
            kw = {k.arg: k.value for k in node.keywords}
            if isinstance(kw.get('package'), ast.Constant) and \
                    kw['package'].value == 'space_miner' and \
                    isinstance(kw.get('executable'), ast.Constant):
                found.add(kw['executable'].value)
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == 'STACK_NODES' for t in node.targets):
            found |= {row[0] for row in ast.literal_eval(node.value)}
    return found


def _declared_arguments(path):
    names = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == \
                'DeclareLaunchArgument' and node.args:
            names.add(ast.literal_eval(node.args[0]))
    return names


def test_every_space_miner_executable_is_a_declared_console_script():
    scripts = _console_scripts()
    started = set()
    for path in LAUNCH_FILES:
        started |= _space_miner_executables(path)
    assert {'sim_node', 'claw_controller', 'state_estimator', 'terrain_perception',
            'gait_controller', 'sampler', 'mission'} <= started
    assert started <= scripts, f'not console scripts: {sorted(started - scripts)}'


def test_every_file_a_launch_file_names_exists():
    for path in LAUNCH_FILES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value
                if value.endswith(('.yaml', '.rviz', '.xacro')) and '/' not in value \
                        and not value.startswith(('{', '.')):  # f-string pieces
                    assert any((ROOT / d / value).exists() for d in ('config', 'urdf')), \
                        f'{path.name} names {value}, which is not in config/ or urdf/'
                if value.endswith('.launch.py') and value not in EXTERNAL_LAUNCH:
                    assert (LAUNCH / value).exists(), f'{path.name} includes {value}'


def test_stack_config_files_exist_for_every_stack_node():
    tree = _tree(LAUNCH / 'stack.launch.py')
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == 'STACK_NODES' for t in node.targets):
            for _, name, _ in ast.literal_eval(node.value):
                assert (ROOT / 'config' / f'{name}.yaml').is_file(), name


@pytest.mark.parametrize('node_name', sorted(NODE_MODULES))
def test_every_config_parameter_is_declared_by_its_node_and_in_range(node_name):
    module = importlib.import_module(NODE_MODULES[node_name])
    assert module.NODE_NAME == node_name
    specs = {spec.name: spec for spec in module.PARAMS}
    config = ROOT / 'config' / CONFIG_OF.get(node_name, f'{node_name}.yaml')
    values = yaml.safe_load(config.read_text())[node_name]['ros__parameters']
    unknown = sorted(set(values) - set(specs))
    assert not unknown, f'{config.name}: {unknown} not declared by {node_name}'
    for name, value in values.items():
        why = specs[name].check(float(value) if specs[name].kind is float and
                                isinstance(value, int) and not isinstance(value, bool)
                                else value)
        assert not why, f'{config.name}: {why}'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_bringups_take_the_documented_arguments(path):
    args = _declared_arguments(path)
    if path.name in ('sim.launch.py', 'gazebo.launch.py', 'hardware.launch.py'):
        assert {'use_sim_time', 'rviz', 'record', 'namespace'} <= args
    if path.name == 'sim.launch.py':
        assert {'body', 'scenario'} <= args
    if path.name == 'hardware.launch.py':
        assert 'hardware_plugin' in args


def test_rviz_shows_declared_topics_and_its_tools_publish_the_operator_topics():
    config = yaml.safe_load((ROOT / 'config' / 'space_miner.rviz').read_text())
    manager = config['Visualization Manager']
    declared = {t.name for t in interfaces.TOPICS} | {'/robot_description'}
    shown = [d['Topic']['Value'] for d in manager['Displays'] if 'Topic' in d]
    shown += [d['Description Topic']['Value'] for d in manager['Displays']
              if 'Description Topic' in d]
    assert shown and set(shown) <= declared, sorted(set(shown) - declared)
    for topic in ('/terrain/traversability', '/terrain/graspability',
                  '/terrain/grasp_candidates', '/camera/depth/image_raw', '/gait/markers'):
        assert topic in shown
    tools = {t['Class']: t.get('Topic', {}).get('Value') for t in manager['Tools']}
    assert tools['rviz_default_plugins/SetGoal'] == interfaces.GOAL_POSE.name
    assert tools['rviz_default_plugins/PublishPoint'] == interfaces.CLICKED_POINT.name
    latched = {t.name for t in interfaces.TOPICS if t.qos is interfaces.LATCHED_QOS}
    for display in manager['Displays']:
        topic = display.get('Topic', {})
        if topic.get('Value') in latched:
            assert topic.get('Durability Policy') == 'Transient Local', topic['Value']


def test_recording_covers_every_declared_topic():
    tree = _tree(LAUNCH / 'record.launch.py')
    source = ast.unparse(tree)
    assert 'interfaces.TOPICS' in source and "'/tf'" in source and "'/tf_static'" in source
    assert "'mcap'" in source


# --- namespaces (issue 29) ------------------------------------------------------------------

def test_rviz_config_in_a_namespace_shows_and_drives_that_robot_and_nothing_else():
    from space_miner.rviz_config import namespaced

    text = (ROOT / 'config' / 'space_miner.rviz').read_text()
    assert namespaced(text, '') == text
    moved = namespaced(text, 'r1')
    assert moved.splitlines()[:4] == text.splitlines()[:4]          # header kept
    before, after = yaml.safe_load(text), yaml.safe_load(moved)
    robot = set(interfaces.robot_topic_names())

    def walk(a, b):
        """Every robot topic moved under /r1; every other value the same."""
        if isinstance(a, dict):
            assert set(a) == set(b)
            for key in a:
                walk(a[key], b[key])
        elif isinstance(a, list):
            assert len(a) == len(b)
            for x, y in zip(a, b):
                walk(x, y)
        else:
            assert b == ('/r1' + a if a in robot else a), (a, b)

    walk(before, after)
    tools = {t['Class']: t.get('Topic', {}).get('Value')
             for t in after['Visualization Manager']['Tools']}
    assert tools['rviz_default_plugins/SetGoal'] == interfaces.GOAL_POSE.resolved('r1')
    assert tools['rviz_default_plugins/PublishPoint'] == interfaces.CLICKED_POINT.resolved('r1')
    assert sum('/r1/' in line for line in moved.splitlines()) == \
        sum(line.strip() in {f'Value: {t}' for t in robot} for line in text.splitlines()) > 10


def test_every_robot_node_a_bringup_starts_takes_the_namespace_and_remaps_tf():
    """Each Node of the robot in a launch file: in the namespace, /tf remapped into it."""
    robot_executables = {'sim_node', 'robot_state_publisher', 'rviz2'}
    checked = 0
    for path in LAUNCH_FILES:
        for node in ast.walk(_tree(path)):
            if not (isinstance(node, ast.Call) and getattr(node.func, 'id', '') in (
                    'Node', 'LifecycleNode')):
                continue
            kw = {k.arg: k.value for k in node.keywords}
            executable = kw.get('executable')
            name = executable.value if isinstance(executable, ast.Constant) else '(variable)'
            if name in robot_executables or name == '(variable)':
                assert 'namespace' in kw, (path.name, name)
                assert 'TF_REMAPPINGS' in ast.unparse(kw.get('remappings', ast.List([]))), \
                    (path.name, name)
                checked += 1
    assert checked == 7  # sim node, 3 robot_state_publishers, rviz2, the stack (2)
    for name in ('rviz.launch.py', 'record.launch.py', 'controllers.launch.py',
                 'stack.launch.py', 'description.launch.py'):
        assert 'namespace' in _declared_arguments(LAUNCH / name), name


def test_a_recording_in_a_namespace_takes_that_robots_topics_and_the_one_clock():
    pytest.importorskip('launch')
    import runpy

    recorded_topics = runpy.run_path(str(LAUNCH / 'record.launch.py'))['recorded_topics']
    root = recorded_topics()
    assert set(root) == {t.name for t in interfaces.TOPICS} | {
        '/tf', '/tf_static', '/robot_description'}
    moved = recorded_topics('r1')
    assert moved == ['/r1' + t if t != '/clock' else t for t in root]
