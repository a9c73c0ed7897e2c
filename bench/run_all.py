# SPDX-License-Identifier: Apache-2.0
"""Run every benchmark in bench/ and write their figures to bench/results.json.

Each ``bench/bench_*.py`` module has ``run() -> dict[str, float]``: named figures with
their units in the key (``claw_step_us``, ``physics_realtime_factor_x``). The figures of
all modules are merged into one flat JSON object, written atomically, and the previous
run's figures are shown beside the new ones so a change can be compared with the last.
When one run measured both, the ratio of each whole-stack harness real-time factor to the
bare physics' (``physics_rtf_rubble_2ms_x``) is added as ``harness_<scenario>_over_physics_ratio``.
"""

import importlib.util
import json
import os
from pathlib import Path
import platform
import sys
import tempfile
import time

HERE = Path(__file__).resolve().parent
RESULTS = HERE / 'results.json'


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list | None = None) -> int:
    """Run the benchmarks named on the command line (default: all) and write results."""
    argv = sys.argv[1:] if argv is None else argv
    paths = sorted(HERE.glob('bench_*.py'))
    if argv:
        paths = [p for p in paths if any(name in p.stem for name in argv)]
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    figures = {}
    for path in paths:
        print(f'== {path.stem}', flush=True)
        start = time.perf_counter()
        result = _load(path).run()
        for key, value in result.items():
            before = previous.get(key)
            was = f'   (last: {before:.4g})' if isinstance(before, (int, float)) else ''
            print(f'   {key:48s} {value:12.4g}{was}', flush=True)
        figures.update(result)
        print(f'   ({time.perf_counter() - start:.1f} s)', flush=True)
    physics = figures.get('physics_rtf_rubble_2ms_x')
    for key in ('default', 'moon'):   # the whole stack's share of the bare physics' speed
        harness = figures.get(f'harness_rtf_{key}_x')
        if physics and harness:
            figures[f'harness_{key}_over_physics_ratio'] = harness / physics
            print(f"   {f'harness_{key}_over_physics_ratio':48s} "
                  f"{figures[f'harness_{key}_over_physics_ratio']:12.4g}", flush=True)
    merged = dict(previous)
    merged.update(figures)
    merged['_machine'] = (f'{platform.machine()} {os.cpu_count()} cores, '
                          f'python {platform.python_version()}')
    fd, tmp = tempfile.mkstemp(dir=HERE, prefix='.results.', suffix='.json')
    with os.fdopen(fd, 'w') as handle:
        json.dump(merged, handle, indent=2, sort_keys=True)
        handle.write('\n')
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, RESULTS)
    print(f'wrote {RESULTS}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
