# SPDX-License-Identifier: Apache-2.0
"""The xacro, check_urdf, MuJoCo, controllers YAML and interfaces.py all agree."""

import shutil
import subprocess
import xml.etree.ElementTree as ET

import mujoco
import numpy as np
import pytest
import yaml

from space_miner import interfaces
from space_miner.core.robot import load_robot_config
from space_miner.paths import config_path
from space_miner.sim.model import expand_urdf, HARDWARE_PLUGINS, robot_spec

ROBOT = load_robot_config()
PLUGINS = HARDWARE_PLUGINS + ('acme_robot_hardware/SpaceMinerSystem',)


@pytest.fixture(scope='module')
def urdf_text():
    return expand_urdf()


@pytest.mark.parametrize('plugin', PLUGINS)
@pytest.mark.parametrize('gazebo', [False, True])
def test_xacro_expands_with_each_plugin_and_check_urdf_accepts_it(tmp_path, plugin, gazebo):
    text = expand_urdf(hardware_plugin=plugin, gazebo=gazebo,
                       controllers_config=config_path('ros2_controllers.yaml'))
    root = ET.fromstring(text)
    assert root.find('ros2_control/hardware/plugin').text == plugin
    gz_plugins = root.findall('gazebo/plugin')
    assert bool(gz_plugins) == gazebo
    if gazebo:
        assert gz_plugins[0].find('parameters').text.endswith('ros2_controllers.yaml')
    path = tmp_path / 'space_miner.urdf'
    path.write_text(text)
    checker = shutil.which('check_urdf')
    assert checker, 'check_urdf missing: the Makefile installs liburdfdom-tools'
    result = subprocess.run([checker, str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Successfully Parsed XML' in result.stdout


def test_mujoco_compiles_it_free_floating_with_every_joint_and_frame():
    model = robot_spec().compile()
    joints = {model.joint(i).name for i in range(model.njnt)}
    bodies = {model.body(i).name for i in range(model.nbody)}
    assert set(interfaces.ALL_JOINTS) <= joints
    assert model.jnt_type[model.joint('base_free_joint').id] == mujoco.mjtJoint.mjJNT_FREE
    assert set(interfaces.FRAMES) <= bodies, set(interfaces.FRAMES) - bodies
    assert model.body_subtreemass[model.body('base_link').id] == pytest.approx(
        ROBOT.total_mass_kg, abs=0.2)  # frame links weigh 10 g each


def test_urdf_geometry_follows_robot_yaml(urdf_text):
    root = ET.fromstring(urdf_text)
    joints = {j.get('name'): j for j in root.findall('joint')}
    for leg, yaw in ROBOT.mount_yaw_rad.items():
        xyz = np.array(joints[f'{leg}_coxa_joint'].find('origin').get('xyz').split(), float)
        assert np.allclose(xyz, [ROBOT.hip_radius_m * np.cos(yaw),
                                 ROBOT.hip_radius_m * np.sin(yaw), 0.0], atol=1e-9)
    for seg in ('coxa', 'femur', 'tibia'):
        limit = joints[f'c1_{seg}_joint'].find('limit')
        assert float(limit.get('lower')) == ROBOT.joints[seg].lower_rad
        assert float(limit.get('upper')) == ROBOT.joints[seg].upper_rad
        assert float(limit.get('effort')) == ROBOT.joints[seg].effort_nm
    assert float(joints['c2_claw_joint'].find('limit').get('effort')) == \
        ROBOT.claw.grip_force_max_n
    assert float(joints['sampler_feed_joint'].find('limit').get('effort')) == \
        ROBOT.sampler.feed_force_max_n


def test_joint_names_and_orders_agree_across_yaml_urdf_controllers_and_interfaces(urdf_text):
    """One test for the whole contract's naming: robot.yaml, URDF, controllers, interfaces."""
    # robot.yaml's leg order is the contract's.
    with open(config_path('robot.yaml'), encoding='utf-8') as handle:
        raw = yaml.safe_load(handle)
    assert tuple(raw['legs']['order']) == interfaces.LEG_ORDER
    expected_legs = tuple(f'{leg}_{seg}_joint' for leg in raw['legs']['order']
                          for seg in ('coxa', 'femur', 'tibia'))
    assert interfaces.LEG_JOINTS == expected_legs
    # URDF: every contract joint exists with the right type; ros2_control lists them in order.
    root = ET.fromstring(urdf_text)
    types = {j.get('name'): j.get('type') for j in root.findall('joint')}
    for name in interfaces.LEG_JOINTS:
        assert types[name] == 'revolute'
    for name in interfaces.WHEEL_JOINTS + interfaces.SAMPLER_DRILL_JOINTS:
        assert types[name] == 'continuous'
    for name in interfaces.CLAW_JOINTS + interfaces.SAMPLER_FEED_JOINTS:
        assert types[name] == 'prismatic'
    rc = root.find('ros2_control')
    rc_joints = {j.get('name'): j.find('command_interface').get('name')
                 for j in rc.findall('joint')}
    assert tuple(rc_joints) == interfaces.ALL_JOINTS
    with open(config_path('ros2_controllers.yaml'), encoding='utf-8') as handle:
        controllers = yaml.safe_load(handle)
    declared = controllers['controller_manager']['ros__parameters']
    interface_of = {'position_controllers': 'position', 'velocity_controllers': 'velocity',
                    'effort_controllers': 'effort'}
    for topic_name, joints in interfaces.COMMAND_JOINTS.items():
        controller = topic_name.split('/')[1]
        assert controllers[controller]['ros__parameters']['joints'] == list(joints)
        kind = declared[controller]['type'].split('/')[0]
        for joint in joints:
            assert rc_joints[joint] == interface_of[kind], joint
    # Sensors: broadcasters name the URDF's sensors and publish the contract's topics.
    sensors = {s.get('name'): s for s in rc.findall('sensor')}
    for claw in interfaces.CLAW_LEGS:
        for broadcaster in (f'{claw}_ft_broadcaster', f'{claw}_ft_broadcaster_low_rate'):
            params = controllers[broadcaster]['ros__parameters']
            assert params['sensor_name'] == f'{claw}_ft_sensor'
            assert params['sensor_name'] in sensors
            assert params['frame_id'] == f'{claw}_ft_link'
            spec = interfaces.topic(f'/{broadcaster}/wrench')
            assert spec.msg_type == 'geometry_msgs/msg/WrenchStamped'
            if broadcaster.endswith('_low_rate'):   # at the rate the contract declares
                assert params['update_rate'] == spec.rate_hz
    assert controllers['imu_broadcaster']['ros__parameters']['sensor_name'] in sensors
    assert interfaces.IMU.name == '/imu_broadcaster/imu'
    assert 'joint_state_broadcaster' in declared
    # The low-rate joint states: a second broadcaster on its own (local) topic, at its rate.
    low = controllers['joint_state_broadcaster_low_rate']['ros__parameters']
    assert low['use_local_topics'] is True
    assert interfaces.JOINT_STATES_LOW_RATE.name == \
        '/joint_state_broadcaster_low_rate/joint_states'
    assert low['update_rate'] == interfaces.JOINT_STATES_LOW_RATE.rate_hz
    # Every controller declared in the manager is one the contract uses, and vice versa.
    contract = {t.split('/')[1] for t in interfaces.COMMAND_JOINTS} | {
        f'{c}_ft_broadcaster{suffix}' for c in interfaces.CLAW_LEGS
        for suffix in ('', '_low_rate')} | {
        'imu_broadcaster', 'joint_state_broadcaster', 'joint_state_broadcaster_low_rate'}
    assert set(declared) - {'update_rate'} == contract
