# SPDX-License-Identifier: Apache-2.0
"""Plain data of terrain perception: enums, intrinsics, layers, candidates, summaries.

Frames: points, grids and poses are in ``odom`` (REP-105) unless a name says otherwise;
grids are axis-aligned in odom, indexed ``[iy, ix]``, and cell ``(ix, iy)`` covers
``origin + [ix, ix + 1) * resolution`` in x (likewise y). Heights are odom z [m].
"""

from dataclasses import dataclass, field
import enum
import json
import math
from typing import Mapping, Sequence

import numpy as np


class TerrainClass(enum.IntEnum):
    """Terrain kinds of DESIGN.md section 6, plus ``UNKNOWN`` for cells never seen."""

    UNKNOWN = 0
    SMOOTH = 1
    REGOLITH = 2
    RUBBLE = 3
    ROCK = 4


#: The known classes, in the order used for class votes and confusion matrices.
KNOWN_CLASSES = (TerrainClass.SMOOTH, TerrainClass.REGOLITH, TerrainClass.RUBBLE,
                 TerrainClass.ROCK)


class TraverseMode(enum.Enum):
    """Locomotion modes whose traversability is judged (DESIGN.md section 5)."""

    ROLL = 'roll'
    WALK = 'walk'
    CRAWL = 'crawl'


class FrameStatus(enum.Enum):
    """What became of one depth frame."""

    OK = 'ok'                        # points were fused into the grid
    EMPTY_FRAME = 'empty_frame'      # the image has no pixels (0 x 0)
    NO_VALID_DEPTH = 'no_valid_depth'   # every pixel invalid: NaN, 0, inf, out of range (sky)
    NO_POSE = 'no_pose'              # the camera or body pose is missing: nothing fused
    OUT_OF_GRID = 'out_of_grid'      # valid depth, but no point fell in the local grid
    BAD_INPUT = 'bad_input'          # unknown encoding, or image and CameraInfo disagree


class MapStatus(enum.Enum):
    """Freshness of the map a summary was computed from."""

    OK = 'ok'
    STALE = 'stale'          # no frame fused for longer than ``stale_after_s``
    NO_DATA = 'no_data'      # no frame fused yet


class SiteReason(enum.Enum):
    """Why a sampling site is, or is not, sampleable."""

    OK = 'ok'
    OK_COARSE = 'ok_coarse'          # judged from the coarse global map only: re-check near
    OUTSIDE_MAP = 'outside_map'
    UNKNOWN = 'unknown'              # never seen
    TOO_STEEP = 'too_steep'
    TOO_ROUGH = 'too_rough'          # step height beyond what the drill feed tolerates
    NO_ANCHOR = 'no_anchor'          # too few claw sectors offer a grasp around the site


@dataclass(frozen=True)
class CameraIntrinsics:
    """The part of a sensor_msgs/CameraInfo the pipeline needs (pinhole, no distortion).

    ``k`` is the row-major 3x3 camera matrix [px]; ``width``/``height`` in pixels.
    """

    width: int
    height: int
    k: tuple

    @property
    def fx(self) -> float:
        """Focal length along x [px]."""
        return float(self.k[0])

    @property
    def fy(self) -> float:
        """Focal length along y [px]."""
        return float(self.k[4])

    @property
    def cx(self) -> float:
        """Principal point x [px]."""
        return float(self.k[2])

    @property
    def cy(self) -> float:
        """Principal point y [px]."""
        return float(self.k[5])

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> 'CameraIntrinsics':
        """Square-pixel pinhole intrinsics from the horizontal field of view [deg]."""
        f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        return cls(int(width), int(height), (f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0))

    def is_valid(self) -> bool:
        """Whether the sizes are non-negative and the focal lengths finite and positive."""
        return (self.width >= 0 and self.height >= 0 and len(self.k) == 9
                and all(math.isfinite(v) for v in self.k) and self.fx > 0 and self.fy > 0)


@dataclass(frozen=True)
class GridGeometry:
    """Placement of a square grid in odom: lower-left corner [m], cell side [m/cell]."""

    origin_xy_m: tuple
    resolution_m: float
    cells: int

    def cell_centres(self) -> tuple:
        """(x, y) [m] of every cell centre, each an array of shape (cells, cells)."""
        c = (np.arange(self.cells) + 0.5) * self.resolution_m
        xs = self.origin_xy_m[0] + c
        ys = self.origin_xy_m[1] + c
        return np.meshgrid(xs, ys)

    def cell_of(self, x_m: float, y_m: float) -> tuple | None:
        """(ix, iy) of the cell holding the point (x, y) [m], or None outside the grid."""
        ix = math.floor((x_m - self.origin_xy_m[0]) / self.resolution_m)
        iy = math.floor((y_m - self.origin_xy_m[1]) / self.resolution_m)
        if 0 <= ix < self.cells and 0 <= iy < self.cells:
            return ix, iy
        return None


@dataclass
class TerrainLayers:
    """Every layer of the local grid, arrays of shape (cells, cells) indexed [iy, ix].

    ``elevation_m`` is NaN where never seen; ``elevation_filled_m`` is inpainted (used for
    the other layers). Slope [rad], roughness [m] (residual std of a local plane fit),
    step [m] (max - min in a window), relief [m] (detrended max - min), coherence [0..1]
    (one-directional structure), ``terrain_class`` (int8 of :class:`TerrainClass`),
    graspability [0..1] (expected share of a claw's grip force that holds), and
    traversability [0..1] per :class:`TraverseMode` (NaN unknown). ``normal`` is the
    unit surface normal, shape (cells, cells, 3).
    """

    geometry: GridGeometry
    stamp_s: float
    elevation_m: np.ndarray
    variance_m2: np.ndarray
    seen: np.ndarray
    elevation_filled_m: np.ndarray
    slope_rad: np.ndarray
    normal: np.ndarray
    roughness_m: np.ndarray
    step_m: np.ndarray
    relief_m: np.ndarray
    coherence: np.ndarray
    terrain_class: np.ndarray
    graspability: np.ndarray
    traversability: Mapping[TraverseMode, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameResult:
    """Outcome of one depth frame: status, points used, cells updated, the time [s].

    ``self_cells`` counts cells whose points were dropped as the robot's own body or legs.
    """

    status: FrameStatus
    stamp_s: float
    valid_pixels: int = 0
    points_in_grid: int = 0
    cells_updated: int = 0
    self_cells: int = 0
    detail: str = ''


@dataclass(frozen=True)
class GraspCandidate:
    """A claw target: the point on the surface and a pose for it, in odom.

    ``position_m`` is the target on the surface [m]; ``orientation_wxyz`` a quaternion
    whose z axis is the outward surface normal and whose x axis points away from the body;
    ``score`` ranks candidates [0..1]; ``q_rad`` the leg's joint angles (coxa, femur,
    tibia) [rad] that reach it from the body pose it was computed for.
    """

    leg: str
    position_m: tuple
    orientation_wxyz: tuple
    normal: tuple
    score: float
    graspability: float
    terrain_class: TerrainClass
    q_rad: tuple


@dataclass(frozen=True)
class TerrainSummary:
    """What gait selection and sampling decide from.

    Class and traversability [0..1] (a low percentile over known cells; NaN unknown)
    under the robot's footprint and along a corridor ahead on the commanded heading [rad,
    odom]; ``known_fraction_*`` is the share of those cells ever seen.
    """

    stamp_s: float
    status: MapStatus
    class_under: TerrainClass
    traversability_under: Mapping[TraverseMode, float]
    known_fraction_under: float
    heading_rad: float
    class_ahead: TerrainClass
    traversability_ahead: Mapping[TraverseMode, float]
    known_fraction_ahead: float
    max_step_ahead_m: float
    max_slope_ahead_rad: float


@dataclass(frozen=True)
class SiteCheck:
    """Whether a sampling site is sampleable, why, and what it is."""

    ok: bool
    reason: SiteReason
    terrain_class: TerrainClass
    xy_m: tuple
    detail: str = ''
    anchor_claws: int = 0


def as_pose_matrix(pose: np.ndarray | Sequence | None) -> np.ndarray | None:
    """Return a finite 4x4 homogeneous transform as float64, or None if missing or invalid."""
    if pose is None:
        return None
    m = np.asarray(pose, dtype=float)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        return None
    return m


# --- /terrain/summary: the one JSON schema (encoded by the node, decoded by its readers) ----

#: Schema tag carried by every encoded summary; bumped when the layout changes.
SUMMARY_SCHEMA = 'space_miner/terrain_summary/1'


@dataclass(frozen=True)
class TerrainReport:
    """Everything ``/terrain/summary`` carries.

    The summary, the last frame's outcome, the last requested sampling site's check (or
    None) and the grasp candidates per claw leg (best first).
    """

    summary: TerrainSummary
    frame_status: FrameStatus | None = None
    frame_detail: str = ''
    site: SiteCheck | None = None
    grasp_candidates: Mapping[str, Sequence[GraspCandidate]] = field(default_factory=dict)


def _num(value: float) -> float | None:
    """Return a finite float, or None (JSON has no NaN)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _unnum(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _modes(values: Mapping[TraverseMode, float]) -> dict:
    return {mode.value: _num(values.get(mode, math.nan)) for mode in TraverseMode}


def _unmodes(data: Mapping) -> dict:
    return {mode: _unnum(data.get(mode.value)) for mode in TraverseMode}


def encode_summary(report: TerrainReport) -> str:
    """Encode a :class:`TerrainReport` as the JSON of ``/terrain/summary``.

    Layout (units in the keys; NaN is written as null; classes, statuses and modes by
    their enum values in lower case)::

        {"schema": SUMMARY_SCHEMA, "stamp_s": t, "status": "ok|stale|no_data",
         "frame": {"status": "ok|no_pose|...", "detail": ""} | null,
         "under": {"class": "rock", "traversability": {"roll": .., "walk": .., "crawl": ..},
                   "known_fraction": ..},
         "ahead": {"heading_rad": .., "class": .., "traversability": {..},
                   "known_fraction": .., "max_step_m": .., "max_slope_rad": ..},
         "site": {"ok": b, "reason": "ok|...", "class": .., "xy_m": [x, y], "detail": "",
                  "anchor_claws": n} | null,
         "grasps": {"c1": [{"position_m": [x, y, z], "orientation_wxyz": [..],
                            "normal": [..], "score": .., "graspability": ..,
                            "class": .., "q_rad": [..]}, ...], ...}}
    """
    s = report.summary
    site = report.site
    data = {
        'schema': SUMMARY_SCHEMA,
        'stamp_s': _num(s.stamp_s),
        'status': s.status.value,
        'frame': None if report.frame_status is None else {
            'status': report.frame_status.value, 'detail': report.frame_detail},
        'under': {'class': s.class_under.name.lower(),
                  'traversability': _modes(s.traversability_under),
                  'known_fraction': _num(s.known_fraction_under)},
        'ahead': {'heading_rad': _num(s.heading_rad), 'class': s.class_ahead.name.lower(),
                  'traversability': _modes(s.traversability_ahead),
                  'known_fraction': _num(s.known_fraction_ahead),
                  'max_step_m': _num(s.max_step_ahead_m),
                  'max_slope_rad': _num(s.max_slope_ahead_rad)},
        'site': None if site is None else {
            'ok': bool(site.ok), 'reason': site.reason.value,
            'class': site.terrain_class.name.lower(),
            'xy_m': [_num(v) for v in site.xy_m], 'detail': site.detail,
            'anchor_claws': int(site.anchor_claws)},
        'grasps': {leg: [{'position_m': [_num(v) for v in c.position_m],
                          'orientation_wxyz': [_num(v) for v in c.orientation_wxyz],
                          'normal': [_num(v) for v in c.normal],
                          'score': _num(c.score), 'graspability': _num(c.graspability),
                          'class': c.terrain_class.name.lower(),
                          'q_rad': [_num(v) for v in c.q_rad]} for c in items]
                   for leg, items in report.grasp_candidates.items()},
    }
    return json.dumps(data, separators=(',', ':'), allow_nan=False)


def _class(name: str) -> TerrainClass:
    return TerrainClass[str(name).upper()]


def decode_summary(text: str) -> TerrainReport:
    """Decode ``/terrain/summary`` JSON (see :func:`encode_summary`); ValueError if malformed."""
    try:
        data = json.loads(text)
        if data.get('schema') != SUMMARY_SCHEMA:
            raise ValueError(f'schema {data.get("schema")!r}, expected {SUMMARY_SCHEMA!r}')
        under, ahead = data['under'], data['ahead']
        summary = TerrainSummary(
            _unnum(data['stamp_s']), MapStatus(data['status']), _class(under['class']),
            _unmodes(under['traversability']), _unnum(under['known_fraction']),
            _unnum(ahead['heading_rad']), _class(ahead['class']),
            _unmodes(ahead['traversability']), _unnum(ahead['known_fraction']),
            _unnum(ahead['max_step_m']), _unnum(ahead['max_slope_rad']))
        frame = data.get('frame')
        site = data.get('site')
        site_check = None if site is None else SiteCheck(
            bool(site['ok']), SiteReason(site['reason']), _class(site['class']),
            tuple(_unnum(v) for v in site['xy_m']), str(site.get('detail', '')),
            int(site.get('anchor_claws', 0)))
        grasps = {leg: tuple(GraspCandidate(
            leg, tuple(_unnum(v) for v in c['position_m']),
            tuple(_unnum(v) for v in c['orientation_wxyz']),
            tuple(_unnum(v) for v in c['normal']), _unnum(c['score']),
            _unnum(c['graspability']), _class(c['class']),
            tuple(_unnum(v) for v in c['q_rad']))
            for c in items) for leg, items in data.get('grasps', {}).items()}
        return TerrainReport(summary, None if frame is None else FrameStatus(frame['status']),
                             '' if frame is None else str(frame.get('detail', '')),
                             site_check, grasps)
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f'terrain summary: missing or malformed field ({err!r})') from err
