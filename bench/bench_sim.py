# SPDX-License-Identifier: Apache-2.0
"""Simulator benchmarks: physics and sim-node real-time factors, depth rendering cost.

- ``physics_rtf_rubble_2ms_x``: simulated over wall time of World.step for the full robot
  on a rubble field (boulders around it, three claws in contact) at a 2 ms step, no camera
  (goal >= 30x; DESIGN.md section 1 measured the bare physics limit at about 40x).
- ``physics_steps_per_s``: the same as physics steps per wall second.
- ``depth_render_640x480_ms`` / ``depth_render_320x240_ms``: one depth frame (median).
- ``sim_node_rtf_x``: the sim node at real_time_factor 0 publishing every contract topic
  (camera 320x240 at 10 Hz) — the highest real-time factor it sustains.
"""

import os
import statistics
import time

os.environ.setdefault('MUJOCO_GL', 'egl')

from space_miner.core.scenario import parse_scenario  # noqa: E402

RUBBLE = {
    'name': 'bench_rubble', 'body': 'bennu', 'seed': 3, 'latitude_deg': 0,
    'terrain': {'size_m': [12, 12], 'resolution_m': 0.05,
                'regions': [{'kind': 'rubble', 'center': [0, 0], 'radius': 4,
                             'density': 0.3}]},
    'mission': {'start': [0, 0, 0], 'waypoints': [], 'sample_sites': [],
                'sample_target_g': 0, 'time_limit_s': 60},
}


def _physics_rtf(sim_s: float = 10.0) -> dict:
    from space_miner.sim.world import World
    world = World(parse_scenario(RUBBLE, 'bench'), camera=None)
    steps = int(sim_s / world.timestep_s)
    world.step(100)  # warm up
    start = time.perf_counter()
    world.step(steps)
    wall = time.perf_counter() - start
    contacts = int(world.data.ncon)
    return {'physics_rtf_rubble_2ms_x': steps * world.timestep_s / wall,
            'physics_steps_per_s': steps / wall,
            'physics_contacts_n': float(contacts)}


def _render_ms(width: int, height: int, frames: int = 30) -> float:
    from space_miner.sim.world import World
    world = World(parse_scenario(RUBBLE, 'bench'), camera=(width, height))
    world.render_depth()
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        world.render_depth()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def _sim_node_rtf(wall_s: float = 8.0) -> float:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from space_miner.sim.sim_node import SimNode
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = SimNode(context=context, parameter_overrides=[
            Parameter('real_time_factor', value=0.0), Parameter('camera_width_px', value=320),
            Parameter('camera_height_px', value=240)])
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        t0, w0 = node._status.get('sim_time_s', 0.0), time.monotonic()
        while time.monotonic() < w0 + wall_s:
            executor.spin_once(timeout_sec=0.05)
        rtf = (node._status['sim_time_s'] - t0) / (time.monotonic() - w0)
        node.destroy_node()
        return rtf
    finally:
        rclpy.shutdown(context=context)


def run() -> dict:
    """Run the simulator benchmarks; figures keyed with their units."""
    figures = _physics_rtf()
    figures['depth_render_640x480_ms'] = _render_ms(640, 480)
    figures['depth_render_320x240_ms'] = _render_ms(320, 240)
    figures['sim_node_rtf_x'] = _sim_node_rtf()
    return figures


if __name__ == '__main__':
    for key, value in run().items():
        print(f'{key}: {value:.4g}')
