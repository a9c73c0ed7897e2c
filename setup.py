# SPDX-License-Identifier: Apache-2.0
"""Package set-up for space_miner (ament_python; pip installs it the same way)."""

from glob import glob
import re

from setuptools import find_packages, setup

PACKAGE = 'space_miner'
# The version lives in package.xml only; this reads it, nothing more.
with open('package.xml', encoding='utf-8') as handle:
    VERSION = re.search(r'<version>([^<]+)</version>', handle.read()).group(1)

setup(
    name=PACKAGE,
    version=VERSION,
    packages=find_packages(exclude=['test', 'test.*', 'bench']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml') + glob('config/*.rviz')),
        (f'share/{PACKAGE}/config/scenarios', glob('config/scenarios/*.yaml')),
        (f'share/{PACKAGE}/urdf', glob('urdf/*')),
    ],
    # rclpy and the message packages come from the ROS 2 install (colcon) or from the
    # PyPI wheels in requirements.txt (make); they are deliberately not install_requires.
    install_requires=[
        'numpy', 'scipy', 'transforms3d', 'opencv-python-headless', 'mujoco', 'rosbags',
        'PyYAML', 'rich', 'matplotlib', 'xacro',
    ],
    zip_safe=True,
    maintainer='space_miner developers',
    maintainer_email='dev@space-miner.invalid',
    description='ROS 2 control stack for a six-legged asteroid-mining robot',
    license='Apache-2.0',
    python_requires='>=3.10',
    entry_points={
        'console_scripts': [
            'space-miner = space_miner.cli:main',
            'sim_node = space_miner.sim.sim_node:main',
            'claw_controller = space_miner.nodes.claw_controller:main',
            'state_estimator = space_miner.nodes.state_estimator:main',
            'terrain_perception = space_miner.nodes.terrain_perception:main',
            'gait_controller = space_miner.nodes.gait_controller:main',
            'sampler = space_miner.nodes.sampler:main',
            'mission = space_miner.nodes.mission:main',
            'stack = space_miner.nodes.stack:main',
        ],
    },
)
