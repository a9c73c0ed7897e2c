# SPDX-License-Identifier: Apache-2.0
"""Thin rclpy nodes: messages to core types and back, parameters, QoS and timers."""
