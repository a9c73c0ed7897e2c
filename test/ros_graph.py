# SPDX-License-Identifier: Apache-2.0
"""Helpers for node tests that spin real rclpy nodes on real DDS."""

import time


def spin_until(executor, predicate, timeout_s: float = 30.0) -> bool:
    """Spin ``executor`` until ``predicate()`` holds or ``timeout_s`` passes; return it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not predicate():
        executor.spin_once(timeout_sec=0.01)
    return bool(predicate())
