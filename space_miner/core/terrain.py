# SPDX-License-Identifier: Apache-2.0
"""Terrain perception: from a depth image to where to roll, where to crawl, where to grip.

:class:`TerrainPerception` is the pure core the ``terrain_perception`` node wraps. Per depth
frame (:meth:`TerrainPerception.process_frame`) it back-projects the image into odom,
fuses it into a robot-centred elevation grid (:mod:`terrain_grid`), computes the layers and
classes (:mod:`terrain_layers`) and folds them into the coarse global map
(:mod:`terrain_global`). On demand it ranks claw grasp candidates within each claw leg's
reach (checked with :class:`LegKinematics`), summarises the terrain under the robot and
ahead, and judges sampling sites.

Bad input never raises: an empty frame, a frame without valid depth (the sky), a missing
pose or a mismatched image give a :class:`FrameStatus` and leave the map as it was; cells
never seen stay unknown.
"""

import math
from typing import Mapping, Sequence

import numpy as np
from transforms3d import affines, euler, quaternions

from space_miner.core.kinematics import RobotKinematics
from space_miner.core.robot import CameraConfig, RobotConfig
from space_miner.core.scenario import TerrainTable
from space_miner.core.terrain_global import GlobalTerrainMap
from space_miner.core.terrain_grid import (cell_measurements, cells_near_segments,
                                           centre_corrected_heights, decode_depth,
                                           drop_cells, ElevationGrid,
                                           measurement_variance, pixel_bands,
                                           RayTable)
from space_miner.core.terrain_layers import (compute_layers, empty_layers,
                                             grip_fraction_table)
from space_miner.core.terrain_params import TerrainParams
from space_miner.core.terrain_types import (as_pose_matrix, CameraIntrinsics, FrameResult,
                                            FrameStatus, GraspCandidate, KNOWN_CLASSES,
                                            MapStatus, SiteCheck, SiteReason, TerrainClass,
                                            TerrainLayers, TerrainSummary, TraverseMode)
from space_miner.interfaces import CLAW_LEGS

#: camera_depth_optical_frame in camera_link: z forward, x right, y down (REP-103).
ROTATION_LINK_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def camera_link_pose(camera: CameraConfig) -> np.ndarray:
    """4x4 pose of ``camera_link`` in ``base_link`` (x forward, pitched down) [m]."""
    rot = euler.euler2mat(0.0, math.radians(camera.pitch_down_deg), 0.0, 'sxyz')
    return affines.compose(np.asarray(camera.xyz_m, dtype=float), rot, np.ones(3))


def camera_optical_pose(transform_odom_base: np.ndarray, camera: CameraConfig) -> np.ndarray:
    """4x4 pose of ``camera_depth_optical_frame`` in odom, given base_link's pose in odom."""
    link_optical = affines.compose(np.zeros(3), ROTATION_LINK_OPTICAL, np.ones(3))
    return np.asarray(transform_odom_base, dtype=float) @ camera_link_pose(camera) @ link_optical


def robot_capsules(kinematics: RobotKinematics, transform_odom_base: np.ndarray,
                   joint_positions: Mapping[str, Sequence[float]] | None = None) -> list:
    """Capsules ``(start, end [m, odom], radius [m])`` around the body and every leg segment.

    ``joint_positions`` maps a leg to its (coxa, femur, tibia) angles [rad]; legs not given
    stand in the nominal stance. The last segment's radius covers the claw pad or wheel.
    """
    robot = kinematics.robot
    base = np.asarray(transform_odom_base, dtype=float)
    stance = robot.leg.stance_rad
    body_r = 0.5 * max(robot.body_size_m[0], robot.body_size_m[1])
    centre = base[:3, 3]
    capsules = [(centre, centre, body_r)]
    for leg, kin in kinematics.legs.items():
        q1, q2, q3 = (float(v) for v in (joint_positions or {}).get(leg, stance))
        c1, s1 = math.cos(q1), math.sin(q1)
        coxa_end = np.array([c1 * kin.coxa_m, s1 * kin.coxa_m, 0.0])
        knee = coxa_end + kin.femur_m * np.array([c1 * math.cos(q2), s1 * math.cos(q2),
                                                  -math.sin(q2)])
        foot = kin.fk_leg((q1, q2, q3))
        points = [base @ np.append(kin.leg_to_body(p), 1.0)
                  for p in (np.zeros(3), coxa_end, knee, foot)]
        tip_r = robot.claw.pad_radius_m if kin.is_claw else robot.wheel.radius_m
        radii = (robot.leg.link_radius_m, robot.leg.link_radius_m,
                 max(robot.leg.link_radius_m, tip_r))
        for a, b, r in zip(points[:-1], points[1:], radii):
            capsules.append((a[:3], b[:3], r))
    return capsules


def _yaw_of(transform: np.ndarray) -> float:
    return math.atan2(transform[1, 0], transform[0, 0])


class TerrainPerception:
    """The local elevation grid, its layers and the global map, updated per depth frame."""

    def __init__(self, params: TerrainParams, robot: RobotConfig,
                 kinds: TerrainTable | None = None) -> None:
        self.params = params
        self.robot = robot
        self._grip = grip_fraction_table(kinds)  # config/terrain.yaml unless given
        self.kinematics = RobotKinematics(robot)
        self.grid = ElevationGrid(params.local_cells, params.local_resolution_m)
        self.global_map = GlobalTerrainMap(params)
        self._rays: RayTable | None = None
        self._layers = empty_layers(self.grid.geometry, 0.0)
        self.last_fused_s: float | None = None

    @property
    def layers(self) -> TerrainLayers:
        """The local layers after the last fused frame (all unknown before the first)."""
        return self._layers

    def reset(self) -> None:
        """Forget the local grid and the global map."""
        self.grid.reset()
        self.global_map = GlobalTerrainMap(self.params)
        self._layers = empty_layers(self.grid.geometry, 0.0)
        self.last_fused_s = None

    # --- per frame ----------------------------------------------------------------------
    def wants_frame(self, stamp_s: float) -> bool:
        """Whether a depth frame stamped ``stamp_s`` [s] should be processed.

        At most one frame is fused per ``frame_period_s``: a frame less than that after the
        last fused one is dropped (the terrain is static; a frame a few centimetres of
        travel later adds little). Frames that did not fuse (no pose, no valid depth) do
        not count, nor does an earlier stamp (a clock reset). The node asks this of every
        image before decoding it, the harness before rendering one, so both fuse the same
        frames of a stream.
        """
        last = self.last_fused_s
        return last is None or not 0.0 <= stamp_s - last < self.params.frame_period_s - 1e-6

    def process_frame(self, depth: np.ndarray | None, encoding: str,
                      intrinsics: CameraIntrinsics, stamp_s: float,
                      transform_odom_base: np.ndarray | None,
                      transform_odom_optical: np.ndarray | None = None,
                      joint_positions: Mapping[str, Sequence[float]] | None = None
                      ) -> FrameResult:
        """Fuse one depth image; returns what became of it (never raises on bad input).

        ``depth`` is (height, width): ``'32FC1'`` metres (NaN, 0, inf invalid) or
        ``'16UC1'`` millimetres (0 invalid). ``transform_odom_base`` is base_link's 4x4 pose
        in odom (the grid centres on it); ``transform_odom_optical`` the optical frame's,
        computed from the camera mount in robot.yaml when None. ``stamp_s`` is the image
        time [s]. Self-filter: this frame's points in cells under the robot's own body and
        legs (``joint_positions``: leg -> (coxa, femur, tibia) [rad], default the stance)
        are dropped, so the claw in front of the camera is not mapped as a boulder.
        """
        base = as_pose_matrix(transform_odom_base)
        if base is None:
            return FrameResult(FrameStatus.NO_POSE, stamp_s, detail='body pose missing')
        optical = (camera_optical_pose(base, self.robot.camera)
                   if transform_odom_optical is None else as_pose_matrix(transform_odom_optical))
        if optical is None:
            return FrameResult(FrameStatus.NO_POSE, stamp_s, detail='camera pose missing')
        if depth is None or np.asarray(depth).size == 0:
            return FrameResult(FrameStatus.EMPTY_FRAME, stamp_s, detail='no pixels')
        depth = np.asarray(depth)
        if depth.ndim != 2 or not intrinsics.is_valid() or \
                depth.shape != (intrinsics.height, intrinsics.width):
            return FrameResult(FrameStatus.BAD_INPUT, stamp_s,
                               detail=f'image {depth.shape} does not match CameraInfo '
                                      f'{intrinsics.width}x{intrinsics.height}')
        try:
            depth_m = decode_depth(depth, encoding)
        except ValueError as err:
            return FrameResult(FrameStatus.BAD_INPUT, stamp_s, detail=str(err))
        if self._rays is None or not self._rays.matches(intrinsics):
            self._rays = RayTable(intrinsics)

        p = self.params
        if self.last_fused_s is not None:
            dt = min(max(stamp_s - self.last_fused_s, 0.0), p.max_frame_dt_s)
        else:
            dt = 0.0
        self.grid.recentre(base[0, 3], base[1, 3])
        geometry = self.grid.geometry
        seen = self.grid.seen
        ground = float(np.percentile(self.grid.height_m[seen], 10.0)) if np.any(seen) else None
        bands = pixel_bands(self._rays, optical, ground, p.local_resolution_m,
                            p.samples_per_cell, p.max_pixel_stride)
        meas = cell_measurements(depth_m, self._rays, optical, geometry, p.min_depth_m,
                                 p.max_depth_m, bands)
        if meas.valid_pixels == 0:
            return FrameResult(FrameStatus.NO_VALID_DEPTH, stamp_s,
                               detail='no pixel has a valid depth')
        if meas.points_in_grid == 0:
            return FrameResult(FrameStatus.OUT_OF_GRID, stamp_s, meas.valid_pixels,
                               detail='no point fell in the local grid')
        own = cells_near_segments(geometry, robot_capsules(self.kinematics, base,
                                                           joint_positions),
                                  p.self_filter_margin_m)
        dropped = drop_cells(meas, own)
        heights = centre_corrected_heights(meas, geometry.cells, geometry.resolution_m)
        variances = measurement_variance(meas, geometry, optical[:3, 3], p)
        self.grid.add_process_noise(p.process_noise_m2_per_s * dt)
        updated = self.grid.fuse(heights, variances, p.gate_sigma)
        self._layers = compute_layers(self.grid.height_m, self.grid.variance_m2, geometry, p,
                                      stamp_s, self._grip)
        self.global_map.update(self._layers)
        self.last_fused_s = stamp_s
        return FrameResult(FrameStatus.OK, stamp_s, meas.valid_pixels, meas.points_in_grid,
                           updated, dropped)

    # --- grasp candidates ---------------------------------------------------------------
    def grasp_candidates(self, transform_odom_base: np.ndarray,
                         legs: Sequence[str] = CLAW_LEGS) -> dict:
        """Ranked claw targets per leg, within reach from the given body pose.

        Returns ``{leg: [GraspCandidate, ...]}`` best first (an empty list when nothing
        graspable is in reach, or the pose is missing). Cells are ranked by graspability
        times a preference for the leg's nominal reach; the best ``grasp_prefilter_per_leg``
        are checked with the leg's inverse kinematics (the surface point, and the pad's centre
        one pad radius along the normal, also ``grasp_reach_margin_m`` farther out) and kept
        at least ``grasp_min_separation_m`` apart.
        """
        out = {leg: [] for leg in legs}
        base = as_pose_matrix(transform_odom_base)
        layers = self._layers
        if base is None or not np.any(layers.seen):
            return out
        p = self.params
        usable = layers.seen & (layers.graspability >= p.grasp_min_score)
        if not np.any(usable):
            return out
        xs, ys = layers.geometry.cell_centres()
        iy, ix = np.nonzero(usable)
        cx, cy = xs[iy, ix], ys[iy, ix]
        cz = layers.elevation_m[iy, ix]
        grasp = layers.graspability[iy, ix]
        base_inv = np.linalg.inv(base)
        geo = self.robot.leg
        for leg in legs:
            kin = self.kinematics.legs[leg]
            hip = base @ np.append(kin.mount_xyz_m, 1.0)
            nominal = kin.fk(geo.stance_rad)
            nominal_odom = base @ np.append(nominal, 1.0)
            nominal_r = math.hypot(nominal_odom[0] - hip[0], nominal_odom[1] - hip[1])
            r_max = kin.coxa_m + kin.femur_m + kin.tibia_m
            d = np.hypot(cx - hip[0], cy - hip[1])
            near = d <= r_max
            if not np.any(near):
                continue
            closeness = np.clip(1.0 - np.abs(d - nominal_r) / (0.5 * r_max), 0.0, 1.0)
            score = grasp * (0.5 + 0.5 * closeness)
            order = np.flatnonzero(near)[np.argsort(-score[near], kind='stable')]
            chosen = []
            for i in order[:p.grasp_prefilter_per_leg]:
                target = np.array([cx[i], cy[i], cz[i]])
                if any(np.linalg.norm(target[:2] - np.asarray(c.position_m[:2]))
                       < p.grasp_min_separation_m for c in chosen):
                    continue
                ik = kin.ik((base_inv @ np.append(target, 1.0))[:3])
                if not ik.ok:
                    continue
                # The leg's foot point is the pad's centre, one pad radius off the surface
                # when the pad rests on it: that must be within reach too, with a margin
                # outwards (the body settles, the leg presses the pad on).
                normal = layers.normal[iy[i], ix[i]].astype(float)
                pad_centre = target + normal * self.robot.claw.pad_radius_m
                outward = np.array([target[0] - hip[0], target[1] - hip[1], 0.0])
                outward /= max(float(np.linalg.norm(outward)), 1e-9)
                if not all(kin.ik((base_inv @ np.append(point, 1.0))[:3]).ok for point in (
                        pad_centre, pad_centre + p.grasp_reach_margin_m * outward)):
                    continue
                chosen.append(GraspCandidate(
                    leg=leg, position_m=tuple(float(v) for v in target),
                    orientation_wxyz=_surface_quaternion(normal, target - hip[:3]),
                    normal=tuple(float(v) for v in normal), score=float(score[i]),
                    graspability=float(grasp[i]),
                    terrain_class=TerrainClass(int(layers.terrain_class[iy[i], ix[i]])),
                    q_rad=tuple(float(v) for v in ik.q)))
                if len(chosen) >= p.grasp_candidates_per_leg:
                    break
            out[leg] = chosen
        return out

    # --- summary ------------------------------------------------------------------------
    def map_status(self, stamp_s: float) -> MapStatus:
        """NO_DATA before the first fused frame, STALE when the last is too old, else OK."""
        if self.last_fused_s is None:
            return MapStatus.NO_DATA
        if stamp_s - self.last_fused_s > self.params.stale_after_s:
            return MapStatus.STALE
        return MapStatus.OK

    def summary(self, transform_odom_base: np.ndarray | None, heading_rad: float | None,
                stamp_s: float) -> TerrainSummary:
        """Summarise the terrain under the robot and ahead, for gait and sampling decisions.

        ``heading_rad`` is the commanded heading [rad, odom] (None: the body's yaw); the
        corridor ahead starts at the body centre. ``stamp_s`` [s] decides staleness.
        """
        p = self.params
        base = as_pose_matrix(transform_odom_base)
        layers = self._layers
        status = self.map_status(stamp_s)
        unknown = {mode: math.nan for mode in TraverseMode}
        if base is None:
            heading = math.nan if heading_rad is None else float(heading_rad)
            return TerrainSummary(stamp_s, status, TerrainClass.UNKNOWN, unknown, 0.0, heading,
                                  TerrainClass.UNKNOWN, dict(unknown), 0.0, math.nan,
                                  math.nan)
        heading = _yaw_of(base) if heading_rad is None or not math.isfinite(heading_rad) \
            else float(heading_rad)
        xs, ys = layers.geometry.cell_centres()
        dx, dy = xs - base[0, 3], ys - base[1, 3]
        under = np.hypot(dx, dy) <= p.robot_radius_m
        along = dx * math.cos(heading) + dy * math.sin(heading)
        across = -dx * math.sin(heading) + dy * math.cos(heading)
        ahead = (along >= 0.0) & (along <= p.corridor_length_m) & (
            np.abs(across) <= p.corridor_width_m / 2.0)
        cls_u, trav_u, known_u = self._region(under, p.robot_radius_m ** 2 * math.pi)
        cls_a, trav_a, known_a = self._region(
            ahead, p.corridor_length_m * p.corridor_width_m)
        sel = ahead & layers.seen
        max_step = float(np.max(layers.step_m[sel])) if np.any(sel) else math.nan
        max_slope = float(np.max(layers.slope_rad[sel])) if np.any(sel) else math.nan
        return TerrainSummary(stamp_s, status, cls_u, trav_u, known_u, heading, cls_a, trav_a,
                              known_a, max_step, max_slope)

    def _region(self, mask: np.ndarray, area_m2: float) -> tuple:
        """Majority class, low-percentile traversability and known share of a region."""
        layers = self._layers
        res2 = layers.geometry.resolution_m ** 2
        total = max(area_m2 / res2, float(np.count_nonzero(mask)), 1.0)
        known = mask & layers.seen
        n_known = int(np.count_nonzero(known))
        fraction = n_known / total
        if n_known == 0 or fraction < self.params.min_known_fraction:
            return TerrainClass.UNKNOWN, {m: math.nan for m in TraverseMode}, fraction
        counts = [np.count_nonzero(layers.terrain_class[known] == c) for c in KNOWN_CLASSES]
        cls = KNOWN_CLASSES[int(np.argmax(counts))]
        trav = {mode: float(np.percentile(layer[known], self.params.summary_percentile))
                for mode, layer in layers.traversability.items()}
        return cls, trav, fraction

    # --- sampling sites -----------------------------------------------------------------
    def site_sampleable(self, xy_m: Sequence[float]) -> SiteCheck:
        """Whether the site at ``xy_m`` [m, odom] can be sampled, and why (never raises).

        Seen in the local grid: the slope and step must be within the sampling limits and,
        standing over the site, at least ``sample_min_anchor_claws`` of the three claw
        sectors must offer a graspable cell. Otherwise the coarse global map decides
        (``OK_COARSE``: re-check when near).
        """
        p = self.params
        try:
            x, y = (float(v) for v in xy_m)
        except (TypeError, ValueError):
            return SiteCheck(False, SiteReason.OUTSIDE_MAP, TerrainClass.UNKNOWN, (),
                             f'{xy_m!r} is not an (x, y) point')
        if not (math.isfinite(x) and math.isfinite(y)):
            return SiteCheck(False, SiteReason.OUTSIDE_MAP, TerrainClass.UNKNOWN, (x, y),
                             'site is not finite')
        layers = self._layers
        cell = layers.geometry.cell_of(x, y)
        if cell is not None and layers.seen[cell[1], cell[0]]:
            ix, iy = cell
            cls = TerrainClass(int(layers.terrain_class[iy, ix]))
            slope = float(layers.slope_rad[iy, ix])
            step = float(layers.step_m[iy, ix])
            if slope > math.radians(p.sample_max_slope_deg):
                return SiteCheck(False, SiteReason.TOO_STEEP, cls, (x, y),
                                 f'slope {math.degrees(slope):.1f} deg > '
                                 f'{p.sample_max_slope_deg:g} deg')
            if step > p.sample_max_step_m:
                return SiteCheck(False, SiteReason.TOO_ROUGH, cls, (x, y),
                                 f'step {step:.3f} m > {p.sample_max_step_m:g} m')
            claws = self._anchor_claws(x, y)
            if claws < p.sample_min_anchor_claws:
                return SiteCheck(False, SiteReason.NO_ANCHOR, cls, (x, y),
                                 f'{claws} claw sector(s) offer a grasp; '
                                 f'{p.sample_min_anchor_claws} needed', claws)
            return SiteCheck(True, SiteReason.OK, cls, (x, y), '', claws)
        gmap = self.global_map
        gcell = gmap.geometry.cell_of(x, y)
        if gcell is None:
            return SiteCheck(False, SiteReason.OUTSIDE_MAP, TerrainClass.UNKNOWN, (x, y),
                             'outside the global map')
        gx, gy = gcell
        if not gmap.seen[gy, gx]:
            return SiteCheck(False, SiteReason.UNKNOWN, TerrainClass.UNKNOWN, (x, y),
                             'never seen')
        cls = gmap.class_at(x, y)
        if gmap.max_slope_rad[gy, gx] > math.radians(p.sample_max_slope_deg):
            return SiteCheck(False, SiteReason.TOO_STEEP, cls, (x, y), 'coarse map')
        if gmap.max_step_m[gy, gx] > p.sample_max_step_m:
            return SiteCheck(False, SiteReason.TOO_ROUGH, cls, (x, y), 'coarse map')
        return SiteCheck(True, SiteReason.OK_COARSE, cls, (x, y), 'coarse map: re-check near')

    def _anchor_claws(self, x: float, y: float) -> int:
        """Count claw sectors offering a grasp on the anchor ring around (x, y).

        Three sectors 120 deg apart; the best body yaw (10 deg steps) counts.
        """
        p = self.params
        layers = self._layers
        xs, ys = layers.geometry.cell_centres()
        d = np.hypot(xs - x, ys - y)
        ring = (np.abs(d - p.sample_anchor_radius_m) <= p.sample_anchor_tolerance_m) & (
            layers.graspability >= p.grasp_min_score)
        if not np.any(ring):
            return 0
        ang = np.arctan2(ys[ring] - y, xs[ring] - x)
        best = 0
        for yaw in np.radians(np.arange(0.0, 120.0, 10.0)):
            sectors = np.floor(((ang - yaw + math.pi / 3.0) % (2.0 * math.pi))
                               / (2.0 * math.pi / 3.0)).astype(int)
            best = max(best, len(np.unique(sectors)))
        return best


def _surface_quaternion(normal: np.ndarray, outward: np.ndarray) -> tuple:
    """Return (w, x, y, z) of a frame with z along ``normal``, x along ``outward``.

    ``outward`` is projected onto the surface plane first.
    """
    z = normal / max(np.linalg.norm(normal), 1e-12)
    x = outward - np.dot(outward, z) * z
    if np.linalg.norm(x) < 1e-9:
        x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return tuple(float(v) for v in quaternions.mat2quat(np.column_stack([x, y, z])))


def occupancy_data(score: np.ndarray, invert: bool = True) -> np.ndarray:
    """Flatten a [0..1] layer (NaN unknown) into nav_msgs/OccupancyGrid ``data`` values.

    Returns int8, row-major from the grid's lower-left cell (OccupancyGrid's order, since
    layers are indexed [iy, ix]): ``round(100 * (1 - score))`` when ``invert`` (a cost from
    a traversability or graspability), else ``round(100 * score)``; -1 where unknown.
    """
    a = np.asarray(score, dtype=np.float64)
    known = np.isfinite(a)
    value = np.clip(np.where(known, a, 0.0), 0.0, 1.0)
    if invert:
        value = 1.0 - value
    out = np.rint(value * 100.0).astype(np.int8)
    out[~known] = -1
    return out.ravel()
