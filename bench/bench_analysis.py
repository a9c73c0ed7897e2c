# SPDX-License-Identifier: Apache-2.0
"""Mission analysis throughput on rosbag2 (MCAP) bags, end to end without the plots.

``analysis_msgs_per_s``: messages per second of wall time to open a 300 s mission bag
without images (every topic of interfaces.py at its rate, ≈ 600,000 messages; written by
space_miner.bag.synth), read the records it needs, decode them and analyse them;
goal ≥ 150,000 (rosbags deserialised ≈ 59,000/s and read raw ≈ 400,000/s here).
``bag_read_raw_msgs_per_s``: reading the same bag's raw records alone, for reference.
``analysis_mb_per_s_with_images``: bag megabytes per second for a 20 s mission bag with
640x480 32FC1 depth images at 10 Hz (≈ 250 MB). Best of three runs each.
Run: ``python bench/run_all.py analysis``.
"""

from pathlib import Path
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from space_miner.bag.decode import load_streams  # noqa: E402
from space_miner.bag.reader import open_bag  # noqa: E402
from space_miner.bag.synth import MissionPlan, write_mission_bag  # noqa: E402
from space_miner.core.analysis import analyze  # noqa: E402

REPEATS = 3


def _analyse(path: Path) -> tuple:
    start = time.perf_counter()
    with open_bag(path) as bag:
        streams = load_streams(bag)
        count = bag.message_count
    analysis = analyze(streams, 0.2)
    assert analysis.gait_changes >= 1
    return time.perf_counter() - start, count


def _read_raw(path: Path) -> tuple:
    start = time.perf_counter()
    with open_bag(path) as bag:
        count = sum(1 for _ in bag.messages())
    return time.perf_counter() - start, count


def run() -> dict:
    """Return the analysis throughput figures."""
    with tempfile.TemporaryDirectory(prefix='bench_analysis_') as tmp:
        plain = Path(tmp) / 'mission'
        plan = MissionPlan(duration_s=300.0,
                           gait_modes=((0.0, 'anchor'), (60.0, 'crawl'), (150.0, 'anchor'),
                                       (200.0, 'crawl')),
                           slips=((70.0, 'c2'), (210.0, 'c1')),
                           samples=((160.0, 190.0, 60.0),))
        write_mission_bag(plain, plan)
        best = min(_analyse(plain) for _ in range(REPEATS))
        raw = min(_read_raw(plain) for _ in range(REPEATS))
        images = Path(tmp) / 'images'
        write_mission_bag(images, MissionPlan(duration_s=20.0, images_hz=10.0,
                                              image_size=(640, 480)))
        size_mb = sum(f.stat().st_size for f in images.iterdir()) / 1e6
        best_img = min(_analyse(images)[0] for _ in range(REPEATS))
    return {
        'analysis_msgs_per_s': best[1] / best[0],
        'bag_read_raw_msgs_per_s': raw[1] / raw[0],
        'analysis_mb_per_s_with_images': size_mb / best_img,
        'analysis_bag_messages': float(best[1]),
    }


if __name__ == '__main__':
    for key, value in run().items():
        print(f'{key:40s} {value:12.4g}')
