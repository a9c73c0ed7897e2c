# SPDX-License-Identifier: Apache-2.0
"""The robot description as URDF (expanded from the xacro) and as a MuJoCo spec.

One place turns ``urdf/space_miner.urdf.xacro`` into URDF text and that into a
``mujoco.MjSpec`` with a free-floating base: MuJoCo's URDF import fixes the base to the
world, so the free joint is added here; the xacro's ``<mujoco>`` tag keeps fixed-joint
frames as bodies (``fusestatic="false"``).
"""

from pathlib import Path

import mujoco
import xacro

from space_miner.paths import urdf_xacro_path

HARDWARE_PLUGINS = (
    'mock_components/GenericSystem',
    'gz_ros2_control/GazeboSimSystem',
)


def expand_urdf(config: str | Path | None = None, *,
                hardware_plugin: str = 'mock_components/GenericSystem',
                gazebo: bool = False, controllers_config: str | Path | None = None) -> str:
    """Expand the xacro to URDF text.

    ``config`` is the robot.yaml to read (default: the package's); ``hardware_plugin`` the
    ros2_control plugin; ``gazebo`` adds the gz sim tags.
    """
    mappings = {'hardware_plugin': hardware_plugin, 'gazebo': 'true' if gazebo else 'false'}
    if config is not None:
        mappings['config'] = str(Path(config).resolve())
    if controllers_config is not None:
        mappings['controllers_config'] = str(Path(controllers_config).resolve())
    document = xacro.process_file(str(urdf_xacro_path()), mappings=mappings)
    return document.toxml()


def robot_spec(config: str | Path | None = None) -> mujoco.MjSpec:
    """Build the robot as a MuJoCo spec with a free-floating ``base_link`` (uncompiled)."""
    spec = mujoco.MjSpec.from_string(expand_urdf(config))
    base = spec.body('base_link')
    base.add_freejoint().name = 'base_free_joint'
    return spec
