# SPDX-License-Identifier: Apache-2.0
"""Where the package's shared files (config/, urdf/, launch/) are, however it was installed."""

import os
from pathlib import Path
import sys

PACKAGE = 'space_miner'


def share_dir() -> Path:
    """Return the directory holding config/, urdf/ and launch/.

    Looked up in order: the source tree this module sits in (editable installs and
    checkouts), the ament index (colcon install), then ``<prefix>/share/space_miner``
    (pip install). Raises FileNotFoundError naming every place looked at.
    """
    tried = []
    source = Path(__file__).resolve().parent.parent
    candidates = [source]
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / 'share' / PACKAGE)
    candidates.append(Path(sys.prefix) / 'share' / PACKAGE)
    for candidate in candidates:
        tried.append(str(candidate))
        if (candidate / 'config' / 'robot.yaml').is_file():
            return candidate
    raise FileNotFoundError(
        f'space_miner share directory not found (looked in: {", ".join(tried)})')


def config_path(name: str) -> Path:
    """Return the path of a file in the package's config/ directory."""
    return share_dir() / 'config' / name


def urdf_xacro_path() -> Path:
    """Return the path of the robot's xacro."""
    return share_dir() / 'urdf' / 'space_miner.urdf.xacro'
