# SPDX-License-Identifier: Apache-2.0
"""space_miner: ROS 2 control stack for a six-legged asteroid-mining robot."""

from importlib import metadata

try:
    __version__ = metadata.version('space_miner')
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = '0+unknown'
