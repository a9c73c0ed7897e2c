# SPDX-License-Identifier: Apache-2.0
"""The ``space-miner`` command.

- ``space-miner sim [--scenario FILE] [--summary OUT.json] [--bag DIR] [--processes]
  [--namespace NS]`` runs one scenario on the live ROS graph (the sim node and every stack
  node, under the robot namespace ``NS`` if given), with a progress bar, records the
  contract topics to an MCAP bag and writes the summary.
- ``space-miner analyze BAG [--out DIR] [--namespace NS]`` writes a mission report (HTML
  with plots, and Markdown) from a bag of ``space-miner sim`` or ``ros2 bag record`` (MCAP
  or sqlite3), of a robot in any namespace.
- ``space-miner replay BAG [--rate R] [--topics ...] [--loop] [--through terrain|gait]
  [--namespace NS]`` plays a bag on its topics with ``/clock``, or runs it through the
  core components.
- ``space-miner settle`` loads the robot into MuJoCo on a flat patch, lets it settle and
  prints its pose and contacts (the smallest check that the model and physics are sane).
- ``space-miner eval FILE... [--json OUT] [--jobs N]`` runs scenarios on the lockstep
  harness in parallel, with a progress bar per scenario, prints a table and writes the
  summaries as a JSON list. Exit status 0 when it ran, whatever the missions' outcomes; 2
  when a scenario file is refused (before anything runs).
"""

import argparse
import math
import os
from pathlib import Path
import sys
import time

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

    from space_miner.core.robot import ConfigError
    from space_miner.core.scenario import load_scenario
    from space_miner.interfaces import normalize_namespace
    from space_miner.live import LiveOptions, run_live

    console = Console()
    try:
        scenario = load_scenario(args.scenario)
        namespace = normalize_namespace(args.namespace)
    except (ConfigError, OSError, ValueError) as err:
        console.print(f'[red]error:[/red] {err}')
        return 2
    limit = args.time_limit or scenario.mission.time_limit_s
    run_dir = Path('runs') / f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    args.summary = args.summary or str(run_dir / 'summary.json')
    args.bag = args.bag or str(run_dir / 'bag')
    options = LiveOptions(scenario=args.scenario, summary=Path(args.summary),
                          bag=None if args.no_bag else Path(args.bag),
                          processes=args.processes, real_time_factor=args.rtf,
                          time_limit_s=args.time_limit, seed=args.seed, namespace=namespace)
    with Progress(TextColumn('[bold]{task.description}'), BarColumn(),
                  TextColumn('{task.completed:7.1f}/{task.total:.0f} s sim'),
                  TextColumn('{task.fields[status]}'), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(scenario.name, total=limit, status='starting')

        def show(p):
            bar.update(task, completed=min(p.sim_time_s, limit), status=(
                f'{p.phase} | {p.mode} | {p.distance_m:5.2f} m | {p.sample_g:6.1f} g | '
                f'{p.rtf:4.1f}x'))

        summary = run_live(options, show)
    console.print(f"{summary['scenario']}: success={summary['success']} "
                  f"({summary['reason']}), end mode {summary['end_mode']}, "
                  f"{summary['total_sample_g']:.1f} g, "
                  f"{summary['rule_violations']} rule violation(s), "
                  f"detached={summary['detached']}")
    console.print(f'summary: {args.summary} (and {Path(args.summary).with_suffix(".md")})')
    if not args.no_bag:
        console.print(f'bag: {args.bag} (MCAP; space-miner analyze {args.bag})')
    return 0


def _cmd_settle(args: argparse.Namespace) -> int:
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


#: The columns of ``space-miner eval``'s table.
EVAL_COLUMNS = ('scenario', 'success', 'as expected', 'end mode', 'sim s', 'real-time x',
                'distance m', 'sample g', 'target g', 'violations', 'detached', 'est. error m',
                'reason')


def eval_row(summary: dict, scenario) -> tuple:
    """Return one scenario's row of the eval table (texts, EVAL_COLUMNS order)."""
    s = summary
    error = s.get('final_estimation_error_m')
    rtf = s.get('real_time_factor')
    return (str(s.get('scenario')), str(s.get('success')), str(s.get('expected_outcome_met')),
            str(s.get('end_mode')), f"{s.get('sim_time_s', 0):.1f}",
            '-' if rtf is None else f'{rtf:.1f}', f"{s.get('distance_m', 0):.2f}",
            f"{s.get('total_sample_g', 0):.1f}",
            f'{scenario.mission.sample_target_g:g}', str(s.get('rule_violations')),
            str(s.get('detached')), '-' if error is None else f'{error:.3f}',
            str(s.get('reason')))


def markdown_table(columns: tuple, rows: list) -> str:
    """Return a Markdown table (``|`` in a cell escaped)."""
    def line(cells) -> str:
        return '| ' + ' | '.join(str(c).replace('|', '\\|') for c in cells) + ' |'
    return '\n'.join([line(columns), '|' + '---|' * len(columns)] + [line(r) for r in rows]) \
        + '\n'


def _cmd_eval(args: argparse.Namespace) -> int:
    import concurrent.futures
    import multiprocessing
    import queue as queue_mod

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from space_miner.core.robot import ConfigError
    from space_miner.core.scenario import load_scenario
    from space_miner.sim.summary import write_json, write_text

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
    wall0 = time.perf_counter()
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
    for column in EVAL_COLUMNS:
        table.add_column(column)
    rows = [eval_row(s, sc) for s, sc in zip(summaries, scenarios)]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    wall_s = time.perf_counter() - wall0
    sim_s = sum(float(x.get('sim_time_s') or 0.0) for x in summaries)
    console.print(f'{len(summaries)} run(s): {sim_s:.0f} s simulated in {wall_s:.0f} s of wall '
                  f'time with {args.jobs} job(s): {sim_s / max(wall_s, 1e-9):.1f}x real time '
                  'overall')
    if args.json:
        write_json(args.json, summaries)
        console.print(f'summaries written to {args.json}')
    if args.markdown:
        write_text(args.markdown, markdown_table(EVAL_COLUMNS, rows))
        console.print(f'Markdown table written to {args.markdown}')
    missed = [s.get('scenario') for s in summaries if not s.get('expected_outcome_met')]
    if missed:
        console.print(f'[red]{len(missed)} of {len(summaries)} scenario(s) did not end as '
                      f'expected:[/red] {", ".join(map(str, missed))}')
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of ``space-miner``."""
    parser = argparse.ArgumentParser(
        prog='space-miner', description='space_miner: asteroid-mining hexapod control stack')
    parser.add_argument('--version', action='version', version=f'space_miner {__version__}')
    commands = parser.add_subparsers(dest='command', required=True)
    sim = commands.add_parser('sim', help='run a scenario on the live ROS graph')
    sim.add_argument('--scenario', default=None,
                     help='scenario file (default: config/scenarios/default.yaml)')
    sim.add_argument('--summary', default=None,
                     help='summary JSON to write, a Markdown summary beside it '
                          '(default: runs/<scenario>-<time>/summary.json)')
    sim.add_argument('--bag', default=None,
                     help='bag directory to record (default: runs/<scenario>-<time>/bag)')
    sim.add_argument('--no-bag', action='store_true', help='do not record')
    sim.add_argument('--processes', action='store_true',
                     help='one process per node instead of the six stack nodes in one '
                     'process')
    sim.add_argument('--rtf', type=float, default=1.0,
                     help='real-time factor of the simulator (0: as fast as possible)')
    sim.add_argument('--time-limit', type=_positive_float, default=None,
                     help="override the scenario's time limit [s]")
    sim.add_argument('--seed', type=int, default=None, help="override the scenario's seed")
    sim.add_argument('--namespace', default='',
                     help="the robot's namespace: every topic and service under it but "
                          '/clock (default: the root namespace)')
    sim.set_defaults(func=_cmd_sim)
    settle = commands.add_parser('settle', help='settle the robot in MuJoCo on a flat patch')
    settle.add_argument('--duration', type=_positive_float, default=5.0,
                        help='simulated seconds to settle (default 5)')
    settle.add_argument('--gravity', type=_positive_float, default=1.62,
                        help='gravity toward the ground [m/s²] (default 1.62, the Moon)')
    settle.set_defaults(func=_cmd_settle)
    ev = commands.add_parser('eval', help='run scenarios on the lockstep harness')
    ev.add_argument('files', nargs='+', help='scenario YAML files')
    ev.add_argument('--json', help='write the summaries as a JSON list here')
    ev.add_argument('--markdown', help="write the table as Markdown here (the README's)")
    ev.add_argument('--jobs', type=int, default=max(1, (os.cpu_count() or 1)),
                    help='parallel runs (default: the number of cores)')
    ev.add_argument('--seed', type=int, default=None, help="override the scenarios' seeds")
    ev.add_argument('--time-limit', type=_positive_float, default=None,
                    help="override the scenarios' time limits [s]")
    ev.set_defaults(func=_cmd_eval)
    for name, (_, text) in DELEGATED.items():  # listed in --help; main() hands them over
        commands.add_parser(name, help=f'{text} (space-miner {name} --help)', add_help=False)
    return parser


#: Subcommands that parse their own arguments (their modules' ``main(argv)``).
DELEGATED = {
    'analyze': ('space_miner.bag.report', 'write a mission report from a bag'),
    'replay': ('space_miner.bag.replay', 'play a bag on its topics, or through the cores'),
}


def main(argv: list | None = None) -> int:
    """Entry point of the ``space-miner`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        import importlib
        return importlib.import_module(DELEGATED[argv[0]][0]).main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
