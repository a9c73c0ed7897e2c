# SPDX-License-Identifier: Apache-2.0
"""The stack's six nodes in one process, spun by one executor (console script ``stack``).

``space-miner sim`` without ``--processes`` runs the stack this way: composed, as on the
robot's computer, with the simulator — like the hardware — in a process of its own.

``python -m space_miner.nodes.stack [--scenario FILE] [--run-dir DIR] [--ros-args ...]``:
each node gets the parameters :func:`space_miner.live.stack_overrides` sets for the
scenario (sim time, the body, the start pose, the sample log in ``DIR``) over its
``config/<node>.yaml``; the ``--ros-args`` apply to every node (the namespace, ``/tf``
remapped). The lifecycle nodes (claw_controller, sampler) wait to be configured and
activated, as under ``ros2 launch``.
"""

import argparse
import importlib
from pathlib import Path
import sys

from rclpy.parameter import Parameter
from rclpy.utilities import remove_ros_args

from space_miner.nodes.run import run_nodes


def _factories(scenario_path: str | None, run_dir: Path | None) -> list:
    from space_miner.core.scenario import load_scenario
    from space_miner.live import STACK, stack_overrides

    scenario = load_scenario(scenario_path)
    path = str(Path(scenario_path).resolve()) if scenario_path else ''
    factories = []
    for module_name, class_name, _ in STACK:
        node_class = getattr(importlib.import_module(module_name), class_name)
        overrides = [Parameter(k, value=v) for k, v in stack_overrides(
            module_name, scenario, path, run_dir).items()
            if not (k == 'scenario' and not v)]

        def factory(node_class=node_class, overrides=overrides):
            return node_class(parameter_overrides=overrides)
        factories.append(factory)
    return factories


def main(args: list | None = None) -> None:
    """Run the composed stack until Ctrl-C or shutdown."""
    argv = sys.argv if args is None else args
    parser = argparse.ArgumentParser(prog='stack', description=__doc__.splitlines()[0])
    parser.add_argument('--scenario', default=None,
                        help='scenario file (default: config/scenarios/default.yaml)')
    parser.add_argument('--run-dir', type=Path, default=None,
                        help="the run's directory (the sampler's log goes there)")
    options = parser.parse_args(remove_ros_args(argv)[1:])
    run_nodes(_factories(options.scenario, options.run_dir), argv)


if __name__ == '__main__':
    main()
