# SPDX-License-Identifier: Apache-2.0
"""``space-miner analyze BAG [--out DIR]``: a mission report from a rosbag2 bag.

Reads the bag (:mod:`space_miner.bag.reader`, with a progress bar), decodes what the
analysis needs (:mod:`space_miner.bag.decode`), analyses it
(:func:`space_miner.core.analysis.analyze`) and writes into ``DIR`` (default
``<bag>_report`` beside the bag):

- ``report.html``: the report with its plots embedded as PNG (self-contained);
- ``summary.md``: the Markdown summary;
- ``analysis.json``: the summary figures, for scripts and tests;
- ``plots/*.png``: the plots (matplotlib, Agg).

Exit status: 0 when a report was written, 2 when the bag could not be read (the message
names the file and the reason).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
from pathlib import Path
import sys
import time

import numpy as np

from space_miner.core.analysis import analyze, MissionAnalysis, SECTION_TOPICS

_MAX_POINTS = 4000
_COLORS = {'roll': '#4c72b0', 'walk': '#55a868', 'crawl': '#dd8452', 'anchor': '#8172b3',
           'hold': '#c44e52', 'smooth': '#a1c9f4', 'regolith': '#ffb482', 'rubble': '#8de5a1',
           'rock': '#8c8c8c', 'unknown': '#eeeeee', 'idle': '#eeeeee', 'drill': '#c44e52',
           'done': '#55a868', 'holding': '#55a868', 'gripping': '#8de5a1',
           'slipping': '#c44e52', 'open': '#dddddd', 'gripping (measured)': '#8de5a1'}


def _fmt(value: float | None, unit: str = '', digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return 'n/a'
    return f'{value:.{digits}f}{(" " + unit) if unit else ""}'


def summary_dict(a: MissionAnalysis) -> dict:
    """Return the report's headline figures as plain JSON-able data."""
    return {
        'time_base': a.time_base,
        'start_s': a.start_s,
        'end_s': a.end_s,
        'duration_s': a.duration_s,
        'messages': int(sum(a.counts.values())),
        'gait_changes': a.gait_changes,
        'gait_modes': [iv.label for iv in a.gait_timeline],
        'gait_time_s': a.gait_time_s,
        'slips': len(a.slips),
        'slip_claws': [s.claw for s in a.slips],
        'samples': len(a.samples),
        'samples_collected': a.samples_collected,
        'sample_runs': [{'index': s.index, 'start_s': s.start_s, 'duration_s': s.duration_s,
                         'outcome': s.outcome, 'mass_g': s.mass_g, 'collected_g': s.collected_g,
                         'site': s.site, 'reason': s.reason} for s in a.samples],
        'final_mass_g': float(a.mass_g[-1]) if len(a.mass_g) else None,
        'min_margin': a.min_margin,
        'terrain_time_s': a.terrain_time_s,
        'max_speed_m_s': a.max_speed_m_s,
        'max_away_speed_m_s': (float(np.nanmax(a.away_speed_m_s))
                               if len(a.away_speed_m_s) else None),
        'escape_velocity_m_s': a.escape_velocity_m_s,
        'anomalies': a.anomaly_counts(),
        'missing_topics': a.missing_topics,
        'missing_sections': {k: list(v) for k, v in a.missing_sections.items()},
        'unknown_types': [list(x) for x in a.unknown_types],
        'other_topics': a.other_topics,
        'grip_sources': {c: tr.grip_source for c, tr in a.claws.items()},
        'warnings': a.warnings,
        'bad_payloads': a.bad_payloads,
    }


# --- plots ---------------------------------------------------------------------------------

def _thin(t: np.ndarray, *ys: np.ndarray) -> tuple:
    if len(t) <= _MAX_POINTS:
        return (t,) + ys
    step = int(math.ceil(len(t) / _MAX_POINTS))
    return (t[::step],) + tuple(y[::step] for y in ys)


def _timeline_rows(ax, rows: list, a: MissionAnalysis) -> None:
    for k, (name, intervals) in enumerate(rows):
        for iv in intervals:
            ax.broken_barh([(iv.start_s, max(iv.duration_s, 1e-3))], (k - 0.4, 0.8),
                           color=_COLORS.get(iv.label, '#bbbbbb'), edgecolor='white')
            if iv.duration_s > 0.04 * max(a.duration_s, 1e-9):
                ax.text(iv.start_s + iv.duration_s / 2, k, iv.label, ha='center',
                        va='center', fontsize=7)
        if not intervals:
            ax.text(a.start_s + a.duration_s / 2, k, 'no data', ha='center', va='center',
                    fontsize=8, color='#999999')
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(a.start_s, max(a.end_s, a.start_s + 1e-3))


def make_plots(a: MissionAnalysis, out_dir: Path) -> dict:
    """Draw the report's plots into ``out_dir``; return name -> PNG path."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}

    def save(fig, name):
        path = out_dir / f'{name}.png'
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths[name] = path

    # 1. timelines
    fig, ax = plt.subplots(figsize=(10, 2.6))
    _timeline_rows(ax, [('sampling', a.sampling_phases), ('terrain', a.terrain_timeline),
                        ('gait', a.gait_timeline)], a)
    for s in a.slips:
        ax.axvline(s.t_s, color='#c44e52', lw=0.8, ls='--')
    ax.set_xlabel(f'time [s] ({a.time_base})')
    ax.set_title(f'gait mode ({a.gait_changes} changes), terrain under the robot, sampling')
    save(fig, 'timeline')
    # 2. claws
    fig, axes = plt.subplots(len(a.claws), 1, figsize=(10, 2.2 * max(1, len(a.claws))),
                             sharex=True, squeeze=False)
    for ax, (claw, tr) in zip(axes[:, 0], a.claws.items()):
        for iv in tr.grip_timeline:
            ax.axvspan(iv.start_s, iv.end_s, color=_COLORS.get(iv.label, '#eeeeee'),
                       alpha=0.25, lw=0)
        if len(tr.command_t_s):
            t, y = _thin(tr.command_t_s, tr.commanded_n)
            ax.step(t, y, where='post', label='commanded', color='#4c72b0')
        if len(tr.measured_t_s):
            t, y = _thin(tr.measured_t_s, tr.measured_n)
            ax.plot(t, y, label='measured', color='#dd8452', lw=0.8)
        if len(tr.state_t_s):
            t, y = _thin(tr.state_t_s, tr.verified_holding_n)
            ax.step(t, y, where='post', label='verified holding', color='#55a868', lw=0.8)
        for s in a.slips:
            if s.claw == claw:
                ax.axvline(s.t_s, color='#c44e52', ls='--', lw=1.0)
        ax.set_ylabel(f'{claw} [N]')
        ax.legend(loc='upper right', fontsize=7)
        ax.set_title(f'{claw}: squeeze, grip state ({tr.grip_source}), slips (dashed)',
                     fontsize=9)
    axes[-1, 0].set_xlabel(f'time [s] ({a.time_base})')
    save(fig, 'claws')
    # 3. margin
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
    if len(a.margin_t_s):
        t, h, ld, m = _thin(a.margin_t_s, a.holding_sum_n, a.load_n, a.margin)
        ax1.step(t, h, where='post', label='verified holding (sum) [N]', color='#55a868')
        ax1.step(t, ld, where='post', label='commanded external load [N]', color='#c44e52')
        ax1.step(t, 2.0 * ld, where='post', label='2 x load [N]', color='#c44e52', ls=':')
        ax2.step(t, np.where(np.isfinite(m), m, np.nan), where='post', color='#4c72b0')
        ax1.legend(fontsize=7, loc='upper right')
    else:
        ax1.text(0.5, 0.5, 'no claw state in the bag', transform=ax1.transAxes, ha='center')
    ax2.axhline(2.0, color='#c44e52', ls='--', lw=1)
    ax2.set_ylabel('margin (holding / load)')
    ax1.set_ylabel('[N]')
    ax2.set_xlabel(f'time [s] ({a.time_base})')
    ax1.set_title(f'never-detach margin (min {_fmt(a.min_margin)}; rule: >= 2)')
    save(fig, 'margin')
    # 4. mass
    fig, ax = plt.subplots(figsize=(10, 2.6))
    if len(a.mass_t_s):
        t, y = _thin(a.mass_t_s, a.mass_g)
        ax.plot(t, y, color='#8172b3')
    for s in a.samples:
        ax.axvspan(s.start_s, s.end_s, color=_COLORS.get('done' if s.outcome == 'success'
                                                         else 'hold'), alpha=0.15, lw=0)
    ax.set_ylabel('sample mass [g]')
    ax.set_xlabel(f'time [s] ({a.time_base})')
    ax.set_title(f'sample mass; {len(a.samples)} sampling run(s), {a.samples_collected} '
                 'collected')
    save(fig, 'mass')
    # 5. speed
    fig, ax = plt.subplots(figsize=(10, 2.8))
    if len(a.speed_t_s):
        t, v, w = _thin(a.speed_t_s, a.speed_m_s, a.away_speed_m_s)
        ax.plot(t, v, label='body speed', color='#4c72b0', lw=0.8)
        ax.plot(t, w, label='away from the surface', color='#dd8452', lw=0.8)
    if a.escape_velocity_m_s is not None:
        ax.axhline(a.escape_velocity_m_s, color='#c44e52', ls='--',
                   label=f'escape velocity {a.escape_velocity_m_s:g} m/s')
    ax.set_ylabel('[m/s]')
    ax.set_xlabel(f'time [s] ({a.time_base})')
    ax.legend(fontsize=7, loc='upper right')
    ax.set_title(f'body speed ({a.speed_source}) against escape velocity')
    save(fig, 'speed')
    # 6. rates and latencies
    rates = [r for r in a.rates if r.count > 1]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 0.3 * max(4, len(rates)) + 1.2))
    names = [r.topic for r in rates]
    y = np.arange(len(rates))
    ax1.barh(y, [r.rate_hz if math.isfinite(r.rate_hz) else 0 for r in rates],
             color='#4c72b0', label='measured')
    ax1.scatter([r.nominal_hz if math.isfinite(r.nominal_hz) else 0 for r in rates], y,
                color='#c44e52', marker='|', s=120, label='nominal')
    ax1.set_yticks(y)
    ax1.set_yticklabels(names, fontsize=7)
    ax1.set_xscale('symlog', linthresh=1.0)
    ax1.set_xlabel('rate [Hz]')
    ax1.legend(fontsize=7)
    ax2.barh(y, [r.latency_p95_ms if math.isfinite(r.latency_p95_ms) else 0 for r in rates],
             color='#dd8452', label='p95')
    ax2.barh(y, [r.latency_median_ms if math.isfinite(r.latency_median_ms) else 0
                 for r in rates], color='#8172b3', label='median')
    ax2.set_yticks(y)
    ax2.set_yticklabels([])
    ax2.set_xlabel('latency receive - header stamp [ms]')
    ax2.legend(fontsize=7)
    save(fig, 'rates')
    return paths


# --- text ---------------------------------------------------------------------------------

def markdown_summary(a: MissionAnalysis, bag_name: str) -> str:
    """Render the Markdown summary."""
    s = summary_dict(a)
    lines = [f'# Mission report: {bag_name}', '',
             f'- time: {a.start_s:.2f} .. {a.end_s:.2f} s ({a.duration_s:.1f} s, '
             f'{a.time_base}); {s["messages"]} messages',
             f'- gait changes: **{a.gait_changes}** '
             f'({" -> ".join(s["gait_modes"]) or "no gait topic"})',
             '- time per gait mode: ' + (', '.join(f'{k} {v:.1f} s'
                                                   for k, v in a.gait_time_s.items()) or 'n/a'),
             f'- slips: **{len(a.slips)}**' + (f' ({", ".join(s["slip_claws"])})'
                                               if a.slips else ''),
             f'- samples: **{len(a.samples)}** sampling run(s), **{a.samples_collected}** '
             f'collected; final mass {_fmt(s["final_mass_g"], "g", 1)}',
             f'- never-detach margin (verified holding / load): min '
             f'**{_fmt(a.min_margin)}**' + ('' if a.min_margin is not None else
                                            ' (no external load in the bag)'),
             '- terrain under the robot: ' + (', '.join(f'{k} {v:.1f} s'
                                                        for k, v in a.terrain_time_s.items())
                                              or 'n/a'),
             f'- body speed: max {_fmt(a.max_speed_m_s, "m/s", 3)}, away from the surface '
             f'max {_fmt(s["max_away_speed_m_s"], "m/s", 3)}; escape velocity '
             f'{_fmt(a.escape_velocity_m_s, "m/s", 3)} ({a.speed_source})',
             '- anomalies: ' + (', '.join(f'{k} {v}' for k, v in a.anomaly_counts().items())
                                or 'none'), '']
    if a.samples:
        lines += ['## Samples', '', '| # | start [s] | duration [s] | outcome | mass [g] | '
                  'collected [g] | site |', '|---|---|---|---|---|---|---|']
        for r in a.samples:
            lines.append(f'| {r.index} | {r.start_s:.1f} | {r.duration_s:.1f} | {r.outcome} | '
                         f'{_fmt(r.mass_g, "", 1)} | {_fmt(r.collected_g, "", 1)} | '
                         f'{r.site or ""} |')
        lines.append('')
    if a.missing_sections or a.missing_topics or a.unknown_types:
        lines += ['## What is missing', '']
        for section, topics in a.missing_sections.items():
            lines.append(f'- {section}: no data (needs {" or ".join(topics)})')
        if a.missing_topics:
            lines.append('- topics declared in interfaces.py with no message in the bag: '
                         + ', '.join(f'`{t}`' for t in a.missing_topics))
        for topic, msgtype in a.unknown_types:
            lines.append(f'- unknown message type `{msgtype}` on `{topic}`: listed and skipped')
        lines.append('')
    if a.warnings:
        lines += ['## Warnings', ''] + [f'- {w}' for w in a.warnings] + ['']
    lines += ['## Anomalies', '']
    if a.anomalies:
        lines += ['| t [s] | kind | subject | detail |', '|---|---|---|---|']
        for an in a.anomalies[:200]:
            lines.append(f'| {an.t_s:.2f} | {an.kind} | {an.subject} | {an.detail} |')
        if len(a.anomalies) > 200:
            lines.append(f'| ... | {len(a.anomalies) - 200} more | | |')
    else:
        lines.append('none')
    lines += ['', '## Control-loop rates and latencies', '',
              '| topic | messages | rate [Hz] | nominal [Hz] | stamp rate [Hz] | '
              'latency median / p95 / max [ms] | max gap [s] |', '|---|---|---|---|---|---|---|']
    for r in a.rates:
        lines.append(f'| `{r.topic}` | {r.count} | {_fmt(r.rate_hz, "", 1)} | '
                     f'{_fmt(r.nominal_hz, "", 1)} | {_fmt(r.stamp_rate_hz, "", 1)} | '
                     f'{_fmt(r.latency_median_ms, "", 1)} / {_fmt(r.latency_p95_ms, "", 1)} / '
                     f'{_fmt(r.latency_max_ms, "", 1)} | {_fmt(r.max_gap_s, "", 3)} |')
    lines.append('')
    lines.append('Latency is the receive time (mapped to simulated time through `/clock` when '
                 'the bag has it, so resolution is one clock period) minus the header stamp.')
    return '\n'.join(lines) + '\n'


def _md_to_html(md: str) -> str:
    out, in_table, in_list = [], False, False
    for line in md.splitlines():
        esc = html.escape(line)
        esc = _inline(esc)
        if line.startswith('|'):
            cells = [c.strip() for c in line.strip('|').split('|')]
            if set(''.join(cells)) <= set('-'):
                continue
            if not in_table:
                out.append('<table>')
                in_table = True
                out.append('<tr>' + ''.join(f'<th>{_inline(html.escape(c))}</th>'
                                            for c in cells) + '</tr>')
                continue
            out.append('<tr>' + ''.join(f'<td>{_inline(html.escape(c))}</td>'
                                        for c in cells) + '</tr>')
            continue
        if in_table:
            out.append('</table>')
            in_table = False
        if line.startswith('- '):
            if not in_list:
                out.append('<ul>')
                in_list = True
            out.append(f'<li>{esc[2:]}</li>')
            continue
        if in_list:
            out.append('</ul>')
            in_list = False
        if line.startswith('## '):
            out.append(f'<h2>{esc[3:]}</h2>')
        elif line.startswith('# '):
            out.append(f'<h1>{esc[2:]}</h1>')
        elif line.strip():
            out.append(f'<p>{esc}</p>')
    if in_table:
        out.append('</table>')
    if in_list:
        out.append('</ul>')
    return '\n'.join(out)


def _inline(text: str) -> str:
    import re
    text = re.sub(r'\*\*(.+?)\*\*', r'<b>\1</b>', text)
    return re.sub(r'`(.+?)`', r'<code>\1</code>', text)


def html_report(a: MissionAnalysis, bag_name: str, plots: dict) -> str:
    """Render the self-contained HTML report (plots embedded as base64 PNG)."""
    md = markdown_summary(a, bag_name)
    body = _md_to_html(md)
    figures = []
    titles = {'timeline': 'Gait mode, terrain and sampling timeline',
              'claws': 'Claws: commanded vs measured squeeze, grip state, slips',
              'margin': 'Verified holding force against the load (never-detach margin)',
              'mass': 'Sampling: mass over time', 'speed': 'Body speed and escape velocity',
              'rates': 'Control-loop rates and latencies'}
    for name, path in plots.items():
        data = base64.b64encode(Path(path).read_bytes()).decode('ascii')
        figures.append(f'<h2>{html.escape(titles.get(name, name))}</h2>'
                       f'<img alt="{name}" src="data:image/png;base64,{data}">')
    style = ('body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}'
             'table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;'
             'padding:2px 6px}img{max-width:100%}code{background:#f4f4f4}')
    head = f'<title>Mission report: {html.escape(bag_name)}</title><style>{style}</style>'
    split = body.find('<h2>')
    split = len(body) if split < 0 else split
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8">{head}</head><body>'
            f'{body[:split]}{"".join(figures)}{body[split:]}</body></html>\n')


# --- the command ---------------------------------------------------------------------------

def escape_velocity_for(run_info: dict, body: str | None = None) -> float | None:
    """Return the escape velocity [m/s] of ``body`` or the bag's run (None: unknown)."""
    if body is None and 'escape_velocity_m_s' in run_info:
        try:
            return float(run_info['escape_velocity_m_s'])
        except (TypeError, ValueError):
            pass
    name = body or run_info.get('body')
    if not name:
        return None
    from space_miner.core.scenario import load_bodies
    bodies = load_bodies()
    if name not in bodies:
        raise ValueError(f'unknown body {name!r} (bodies.yaml has {", ".join(bodies)})')
    return float(bodies[name].escape_velocity_m_s)


def analyze_bag(bag_path: str | Path, body: str | None = None, progress: bool = False,
                namespace: str | None = None) -> tuple:
    """Open, decode and analyse a bag; return ``(bag, analysis)`` (BagError if unreadable).

    ``namespace``: the robot to analyse (None: the bag's recorded or inferred one).
    """
    from space_miner.bag.decode import load_streams
    from space_miner.bag.reader import open_bag
    bag = open_bag(bag_path, namespace)
    with bag:
        escape = escape_velocity_for(bag.run_info, body)
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, \
                TextColumn, TimeRemainingColumn
            with Progress(TextColumn('reading {task.description}'), BarColumn(),
                          MofNCompleteColumn(), TextColumn('{task.fields[mb]:.1f} MB'),
                          TimeRemainingColumn(), transient=False) as bar:
                task = bar.add_task(Path(bag_path).name, total=bag.message_count or None,
                                    mb=0.0)
                streams = load_streams(bag, lambda n, b, total: bar.update(
                    task, completed=n, total=total, mb=b / 1e6))
        else:
            streams = load_streams(bag)
    return bag, analyze(streams, escape)


def write_report(bag_path: str | Path, out_dir: str | Path | None = None,
                 body: str | None = None, progress: bool = False,
                 namespace: str | None = None) -> tuple:
    """Analyse ``bag_path`` and write the report; return ``(analysis, out_dir)``."""
    bag_path = Path(bag_path)
    out = Path(out_dir) if out_dir else bag_path.parent / f'{bag_path.name}_report'
    bag, a = analyze_bag(bag_path, body, progress, namespace)
    out.mkdir(parents=True, exist_ok=True)
    plots = make_plots(a, out / 'plots')
    name = bag_path.name + (f' (robot {bag.namespace})' if bag.namespace else '')
    (out / 'summary.md').write_text(markdown_summary(a, name), encoding='utf-8')
    (out / 'report.html').write_text(html_report(a, name, plots), encoding='utf-8')
    summary = summary_dict(a)
    summary['bag'] = str(bag_path)
    summary['truncated'] = bag.truncated
    if bag.namespace:
        summary['namespace'] = bag.namespace
    summary['plots'] = {k: str(v) for k, v in plots.items()}
    (out / 'analysis.json').write_text(json.dumps(summary, indent=1, default=_json_default),
                                       encoding='utf-8')
    return a, out


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def main(argv: list | None = None) -> int:
    """Entry point of ``space-miner analyze BAG [--out DIR] [--body NAME] [--namespace NS]``."""
    parser = argparse.ArgumentParser(prog='space-miner analyze',
                                     description='Mission report (HTML + Markdown) from a bag.')
    parser.add_argument('bag', help='rosbag2 directory, .mcap or .db3 file')
    parser.add_argument('--out', default=None, help='report directory (default <bag>_report)')
    parser.add_argument('--body', default=None,
                        help='body of bodies.yaml for the escape velocity (default: the '
                             "bag's run information)")
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--namespace', default=None,
                        help="the robot's namespace in the bag (default: recorded, or what "
                             'the topic names show; needed for a bag of several robots)')
    args = parser.parse_args(argv)
    from space_miner.bag.reader import BagError
    started = time.monotonic()
    try:
        a, out = write_report(args.bag, args.out, args.body, progress=not args.no_progress,
                              namespace=args.namespace)
    except BagError as err:
        print(f'space-miner analyze: {err}', file=sys.stderr)
        return 2
    except ValueError as err:
        print(f'space-miner analyze: {err}', file=sys.stderr)
        return 2
    s = summary_dict(a)
    print(f'{args.bag}: {a.duration_s:.1f} s, {s["messages"]} messages, '
          f'{a.gait_changes} gait changes, {len(a.slips)} slips, {len(a.samples)} samples '
          f'({a.samples_collected} collected), min margin {_fmt(a.min_margin)}, '
          f'{len(a.anomalies)} anomalies')
    for section, topics in a.missing_sections.items():
        print(f'  missing: {section} (needs {" or ".join(topics)})')
    for topic, msgtype in a.unknown_types:
        print(f'  unknown type {msgtype} on {topic}: skipped')
    for w in a.warnings:
        print(f'  warning: {w}')
    print(f'report: {out / "report.html"}  summary: {out / "summary.md"}  '
          f'({time.monotonic() - started:.1f} s)')
    return 0


__all__ = ['analyze_bag', 'write_report', 'summary_dict', 'markdown_summary', 'main',
           'SECTION_TOPICS']

if __name__ == '__main__':
    sys.exit(main())
