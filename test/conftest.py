# SPDX-License-Identifier: Apache-2.0
"""Shared test set-up: headless rendering, an isolated DDS domain per test session."""

import os
import random

os.environ.setdefault('MUJOCO_GL', 'egl')
# Keep DDS traffic on this machine and away from other runs on it.
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 100)))
