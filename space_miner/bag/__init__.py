# SPDX-License-Identifier: Apache-2.0
"""Recording runs to rosbag2 (MCAP), reading them robustly, analysis reports and replay.

Built on ``rosbags`` (pure Python, no ROS install needed); only the recorder and the
live replay import rclpy, lazily.
"""
