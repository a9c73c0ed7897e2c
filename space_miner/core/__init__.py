# SPDX-License-Identifier: Apache-2.0
"""Behaviour of space_miner: pure Python and numpy, no rclpy, deterministic."""
