# SPDX-License-Identifier: Apache-2.0
"""The ``space-miner`` command.

``space-miner sim`` loads the robot into MuJoCo on a flat patch, lets it settle and
prints its pose and contacts. (It grows into the full mission on the live ROS graph as
the simulator and mission capabilities land; see the README.)
"""

import argparse
import math
import sys

from space_miner import __version__


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
    if not math.isfinite(value) or value <= 0.0:
        raise argparse.ArgumentTypeError(f'{text!r} must be a positive finite number')
    return value


def _cmd_sim(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from space_miner.sim.settle import settle_on_flat_patch

    console = Console()
    with Progress(TextColumn('[bold]settling'), BarColumn(),
                  TextColumn('{task.completed:.2f}/{task.total:.2f} s sim'),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task('settle', total=args.duration)
        report = settle_on_flat_patch(
            duration_s=args.duration, gravity_m_s2=args.gravity,
            progress=lambda t: progress.update(task, completed=t))
        progress.update(task, completed=args.duration)
    x, y, z = report.position_m
    console.print(f'after {report.sim_time_s:.2f} s at g = {args.gravity:g} m/s²: '
                  f'base_link at x={x:+.4f} y={y:+.4f} z={z:+.4f} m, '
                  f'quat (w,x,y,z) = ({", ".join(f"{q:+.4f}" for q in report.quat_wxyz)}), '
                  f'speed {report.speed_m_s:.2e} m/s')
    total = sum(f for _, f in report.contacts)
    console.print(f'{len(report.contacts)} contacts with the ground, '
                  f'{total:.1f} N normal force in all:')
    for body, force in report.contacts:
        console.print(f'  {body:24s} {force:8.2f} N')
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of ``space-miner``."""
    parser = argparse.ArgumentParser(
        prog='space-miner', description='space_miner: asteroid-mining hexapod control stack')
    parser.add_argument('--version', action='version', version=f'space_miner {__version__}')
    commands = parser.add_subparsers(dest='command', required=True)
    sim = commands.add_parser('sim', help='settle the robot in MuJoCo on a flat patch')
    sim.add_argument('--duration', type=_positive_float, default=5.0,
                     help='simulated seconds to settle (default 5)')
    sim.add_argument('--gravity', type=_positive_float, default=1.62,
                     help='gravity toward the ground [m/s²] (default 1.62, the Moon)')
    sim.set_defaults(func=_cmd_sim)
    return parser


def main(argv: list | None = None) -> int:
    """Entry point of the ``space-miner`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
