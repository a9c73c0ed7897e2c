# SPDX-License-Identifier: Apache-2.0
"""The embedded MuJoCo simulator and the lockstep harness.

MuJoCo chooses its OpenGL backend when it is first imported; the simulator renders
headless, so EGL is the default here (set MUJOCO_GL yourself to choose another).
"""

import os

os.environ.setdefault('MUJOCO_GL', 'egl')
