# SPDX-License-Identifier: Apache-2.0
"""The ``space-miner`` command.

- ``space-miner sim`` loads the robot into MuJoCo on a flat patch, lets it settle and
  prints its pose and contacts (it grows into the full mission on the live ROS graph as
  the mission capability lands; see the README).
- ``space-miner eval FILE... [--json OUT] [--jobs N]`` runs scenarios on the lockstep
  harness in parallel, with a progress bar per scenario, prints a table and writes the
  summaries as a JSON list. Exit status 0 when it ran, whatever the missions' outcomes; 2
  when a scenario file is refused (before anything runs).
"""

import argparse
import math
import os
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


def _eval_worker(index: int, path: str, seed: int | None, time_limit_s: float | None,
                 queue) -> dict:
    from space_miner.sim.harness import run_scenario

    def progress(t_s, _bus):
        queue.put((index, t_s))

    try:
        return run_scenario(path, seed=seed, time_limit_s=time_limit_s, progress=progress)
    finally:
        queue.put((index, None))


def _cmd_eval(args: argparse.Namespace) -> int:
    import concurrent.futures
    import multiprocessing
    import queue as queue_mod

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from space_miner.core.robot import ConfigError
    from space_miner.core.scenario import load_scenario
    from space_miner.sim.summary import write_json

    console = Console()
    scenarios = []
    for path in args.files:  # refuse bad files before anything runs
        try:
            scenarios.append(load_scenario(path))
        except (ConfigError, OSError) as err:
            console.print(f'[red]error:[/red] {path}: {err}')
            return 2
    limits = [args.time_limit or sc.mission.time_limit_s for sc in scenarios]
    summaries: list = [None] * len(scenarios)
    context = multiprocessing.get_context('spawn')
    with context.Manager() as manager, Progress(
            TextColumn('{task.description:28s}'), BarColumn(),
            TextColumn('{task.completed:7.1f}/{task.total:.0f} s sim'), TimeElapsedColumn(),
            console=console) as progress, concurrent.futures.ProcessPoolExecutor(
            max_workers=args.jobs, mp_context=context) as pool:
        updates = manager.Queue()
        tasks = [progress.add_task(sc.name, total=limit)
                 for sc, limit in zip(scenarios, limits)]
        futures = {pool.submit(_eval_worker, i, str(path), args.seed, args.time_limit,
                               updates): i for i, path in enumerate(args.files)}
        pending = set(futures)
        while pending:
            done, pending = concurrent.futures.wait(pending, timeout=0.2)
            for future in done:
                i = futures[future]
                try:
                    summaries[i] = future.result()
                except Exception as err:  # a crash in one run is reported, not fatal
                    summaries[i] = {'scenario': scenarios[i].name, 'success': False,
                                    'reason': f'harness error: {err!r}', 'error': True}
            while True:
                try:
                    i, t_s = updates.get_nowait()
                except queue_mod.Empty:
                    break
                if t_s is not None:
                    progress.update(tasks[i], completed=t_s)
    table = Table(title='space-miner eval')
    for column in ('scenario', 'success', 'expected', 'end mode', 'sim s', 'distance m',
                   'sample g', 'violations', 'detached', 'reason'):
        table.add_column(column)
    for s in summaries:
        table.add_row(str(s.get('scenario')), str(s.get('success')),
                      str(s.get('expected_outcome_met')), str(s.get('end_mode')),
                      f"{s.get('sim_time_s', 0):.1f}", f"{s.get('distance_m', 0):.2f}",
                      f"{s.get('total_sample_g', 0):.1f}", str(s.get('rule_violations')),
                      str(s.get('detached')), str(s.get('reason')))
    console.print(table)
    if args.json:
        write_json(args.json, summaries)
        console.print(f'summaries written to {args.json}')
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
    ev = commands.add_parser('eval', help='run scenarios on the lockstep harness')
    ev.add_argument('files', nargs='+', help='scenario YAML files')
    ev.add_argument('--json', help='write the summaries as a JSON list here')
    ev.add_argument('--jobs', type=int, default=max(1, (os.cpu_count() or 1)),
                    help='parallel runs (default: the number of cores)')
    ev.add_argument('--seed', type=int, default=None, help="override the scenarios' seeds")
    ev.add_argument('--time-limit', type=_positive_float, default=None,
                    help="override the scenarios' time limits [s]")
    ev.set_defaults(func=_cmd_eval)
    return parser


def main(argv: list | None = None) -> int:
    """Entry point of the ``space-miner`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
