# SPDX-License-Identifier: Apache-2.0
"""Layers of the local elevation grid: slope, roughness, step, class, grip, traversability.

Everything here works on the (cells x cells) grid with OpenCV filters: holes are inpainted
(``cv2.inpaint``) for the filters only, and every layer is unknown (NaN, or
:attr:`TerrainClass.UNKNOWN`) where the grid never saw the cell.

- Local plane fit over ``plane_window_m``: on a square window the least-squares plane's
  height at the centre is the window mean, and its slopes are the correlations with the
  x and y ramps (``cv2.sepFilter2D``); the roughness is the residual std.
- Step [m]: max - min over ``step_window_m`` (``cv2.dilate`` - ``cv2.erode``).
- Relief [m]: max - min of the detrended height (height - plane) over the plane window.
- Coherence [0..1]: the structure tensor's anisotropy; ripples are one-directional.
- Class (DESIGN.md section 6): rubble near a large relief (boulders 0.1-0.4 m); smooth
  where roughness and relief are millimetres; regolith where the relief is ripple-sized and
  one-directional; rock otherwise (rough bedrock, 2-5 cm relief); then a majority filter.
"""

import functools
import math

import cv2
import numpy as np

from space_miner.core.scenario import load_terrain_table, TerrainTable
from space_miner.core.terrain_params import TerrainParams
from space_miner.core.terrain_types import (GridGeometry, KNOWN_CLASSES, TerrainClass,
                                            TerrainLayers, TraverseMode)

_BORDER = cv2.BORDER_REPLICATE
#: Share of a cell's plane window that must be seen for the cell to count as a boulder.
BOULDER_MIN_SUPPORT = 0.6


def grip_fraction_table(kinds: TerrainTable | None = None) -> np.ndarray:
    """Grip fraction per :class:`TerrainClass` value (rubble: on a boulder) [0..1].

    The figures are config/terrain.yaml's (DESIGN.md section 6), the same the simulator
    grips with; ``kinds`` defaults to the package's table.
    """
    kinds = kinds if kinds is not None else _package_kinds()
    table = np.zeros(len(TerrainClass), dtype=np.float32)
    for cls in KNOWN_CLASSES:
        table[cls] = kinds[TerrainClass(cls).name.lower()].grip_fraction
    return table


@functools.lru_cache(maxsize=1)
def _package_kinds() -> TerrainTable:
    return load_terrain_table()


def _disk(radius_cells: int) -> np.ndarray:
    size = 2 * radius_cells + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def empty_layers(geometry: GridGeometry, stamp_s: float) -> TerrainLayers:
    """Layers of a grid that has seen nothing: every cell unknown."""
    n = geometry.cells
    nan = np.full((n, n), np.nan, dtype=np.float32)
    normal = np.zeros((n, n, 3), dtype=np.float32)
    normal[..., 2] = 1.0
    return TerrainLayers(
        geometry=geometry, stamp_s=stamp_s,
        elevation_m=np.full((n, n), np.nan), variance_m2=np.full((n, n), np.inf),
        seen=np.zeros((n, n), dtype=bool), elevation_filled_m=nan.copy(),
        slope_rad=nan.copy(), normal=normal, roughness_m=nan.copy(), step_m=nan.copy(),
        relief_m=nan.copy(), coherence=nan.copy(),
        terrain_class=np.zeros((n, n), dtype=np.int8),
        graspability=np.zeros((n, n), dtype=np.float32),
        traversability={mode: nan.copy() for mode in TraverseMode})


def compute_layers(height_m: np.ndarray, variance_m2: np.ndarray, geometry: GridGeometry,
                   params: TerrainParams, stamp_s: float,
                   grip: np.ndarray | None = None) -> TerrainLayers:
    """Every layer of a grid given its heights [m] (NaN unseen) and variances [m^2].

    ``grip`` is :func:`grip_fraction_table`'s array (default: config/terrain.yaml's).
    """
    seen = np.isfinite(height_m) & np.isfinite(variance_m2)
    if not np.any(seen):
        return empty_layers(geometry, stamp_s)
    res = geometry.resolution_m
    ref = float(np.mean(height_m[seen]))
    rel = np.where(seen, height_m - ref, 0.0).astype(np.float32)
    # Inpaint the unseen cells the filters reach from seen ones (far cells, which no layer
    # of a seen cell depends on, keep the mean height).
    k = params.window_cells(params.plane_window_m)
    reach = 2 * (k // 2) + 3
    holes = cv2.dilate(seen.astype(np.uint8), np.ones((reach, reach), np.uint8))
    holes[seen] = 0
    if np.any(holes):
        rel = cv2.inpaint(rel, holes, params.inpaint_radius_cells, cv2.INPAINT_NS)
    f = rel.astype(np.float64)

    # Local plane fit over the plane window.
    ramp = (np.arange(k) - k // 2) * res
    ones = np.full(k, 1.0 / k)
    mean = cv2.boxFilter(f, -1, (k, k), borderType=_BORDER)
    mean_sq = cv2.boxFilter(f * f, -1, (k, k), borderType=_BORDER)
    cov_x = cv2.sepFilter2D(f, -1, ramp / k, ones, borderType=_BORDER)
    cov_y = cv2.sepFilter2D(f, -1, ones, ramp / k, borderType=_BORDER)
    var_d = res * res * (k * k - 1) / 12.0
    gx = cov_x / var_d
    gy = cov_y / var_d
    resid = mean_sq - mean * mean - (gx * gx + gy * gy) * var_d
    roughness = np.sqrt(np.maximum(resid, 0.0))
    slope = np.arctan(np.hypot(gx, gy))
    normal = np.stack([-gx, -gy, np.ones_like(gx)], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)

    ks = params.window_cells(params.step_window_m)
    box_s = np.ones((ks, ks), np.uint8)
    step = cv2.dilate(f, box_s, borderType=_BORDER) - cv2.erode(f, box_s, borderType=_BORDER)
    detrended = f - mean
    box_k = np.ones((k, k), np.uint8)
    relief = (cv2.dilate(detrended, box_k, borderType=_BORDER)
              - cv2.erode(detrended, box_k, borderType=_BORDER))

    # Structure tensor coherence, from gradients of seen cells only (inpainted holes would
    # add gradients in other directions). Both components at the cell corners, from the
    # 2x2 cells around them, not Sobel: they still see ripples near the grid's Nyquist
    # wavelength (10 cm ripples on 5 cm cells).
    measured = seen.astype(np.float64)
    sx = np.zeros_like(f)
    sy = np.zeros_like(f)
    dx = np.diff(f, axis=1)
    dy = np.diff(f, axis=0)
    sx[:-1, :-1] = (dx[:-1, :] + dx[1:, :]) / (2.0 * res)
    sy[:-1, :-1] = (dy[:, :-1] + dy[:, 1:]) / (2.0 * res)
    sx *= measured
    sy *= measured
    jxx = cv2.boxFilter(sx * sx, -1, (k, k), borderType=_BORDER)
    jyy = cv2.boxFilter(sy * sy, -1, (k, k), borderType=_BORDER)
    jxy = cv2.boxFilter(sx * sy, -1, (k, k), borderType=_BORDER)
    coherence = np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy * jxy) / (jxx + jyy + 1e-4)
    # Too few measured gradients in the window: the direction is unknown.
    coherence[cv2.boxFilter(measured, -1, (k, k), borderType=cv2.BORDER_CONSTANT) < 0.3] = np.nan

    # Detrended step: a boulder's edge, but not a steep smooth slope.
    dstep = (cv2.dilate(detrended, box_s, borderType=_BORDER)
             - cv2.erode(detrended, box_s, borderType=_BORDER))
    cls = classify(roughness, relief, coherence, dstep, detrended, seen, params)
    on_boulder = detrended >= params.boulder_min_height_m
    support = cv2.boxFilter(seen.astype(np.float32), -1, (k, k), borderType=cv2.BORDER_CONSTANT)
    grasp = graspability(cls, slope, variance_m2, on_boulder, params, grip)
    grasp[support < params.grasp_min_support] = 0.0
    trav = traversability(cls, slope, step, grasp, seen, params)

    def unknown_nan(a: np.ndarray) -> np.ndarray:
        out = a.astype(np.float32)
        out[~seen] = np.nan
        return out

    return TerrainLayers(
        geometry=geometry, stamp_s=stamp_s, elevation_m=height_m.copy(),
        variance_m2=variance_m2.copy(), seen=seen,
        elevation_filled_m=(f + ref).astype(np.float32),
        slope_rad=unknown_nan(slope), normal=normal.astype(np.float32),
        roughness_m=unknown_nan(roughness), step_m=unknown_nan(step),
        relief_m=unknown_nan(relief), coherence=unknown_nan(coherence),
        terrain_class=cls, graspability=grasp, traversability=trav)


def classify(roughness_m: np.ndarray, relief_m: np.ndarray, coherence: np.ndarray,
             detrended_step_m: np.ndarray, detrended_m: np.ndarray, seen: np.ndarray,
             params: TerrainParams) -> np.ndarray:
    """Class per cell (int8 of :class:`TerrainClass`); unknown where unseen.

    Window features blur class borders by half a window, so each cell takes the least
    rough window that contains it (an erosion of roughness and relief) before the
    thresholds. Boulder cells (a detrended step or a rise of a boulder's size,
    measured on the small step window, where at least :data:`BOULDER_MIN_SUPPORT` of the
    plane window was seen) make every cell within ``rubble_dilate_m`` rubble,
    and so does a share of at least ``rubble_min_boulder_fraction`` boulder cells among
    the seen cells within ``rubble_density_window_m`` (a boulder field).
    Cells without a coherence (few measured gradients) and neither smooth nor rubble are
    left to a majority filter over ``class_filter_window_m``, which also smooths the rest
    (rock where no neighbour decides).
    """
    res = params.local_resolution_m
    k = params.window_cells(params.plane_window_m)
    box = np.ones((k, k), np.uint8)
    rough = cv2.erode(roughness_m, box, borderType=_BORDER)
    relief = cv2.erode(relief_m, box, borderType=_BORDER)
    cls = np.full(roughness_m.shape, TerrainClass.ROCK, dtype=np.int8)
    with np.errstate(invalid='ignore'):
        regolith = (relief <= params.regolith_max_relief_m) & (
            coherence >= params.regolith_min_coherence)
    cls[regolith] = TerrainClass.REGOLITH
    # Without a coherence (too few measured gradients) regolith and rock are undecided here:
    # the majority filter decides from the neighbours.
    cls[~np.isfinite(coherence)] = TerrainClass.UNKNOWN
    smooth = (rough <= params.smooth_max_roughness_m) & (relief <= params.smooth_max_relief_m)
    cls[smooth] = TerrainClass.SMOOTH
    # Only where the plane window was mostly seen: next to unseen cells the detrended
    # height compares with inpainted ones, which on a slope makes false steps.
    support = cv2.boxFilter(seen.astype(np.float32), -1, (k, k), borderType=cv2.BORDER_CONSTANT)
    boulders = (((detrended_step_m >= params.rubble_min_relief_m)
                 | (detrended_m >= 2.0 * params.boulder_min_height_m)) & seen
                & (support >= BOULDER_MIN_SUPPORT)).astype(np.uint8)
    radius = int(round(params.rubble_dilate_m / res))
    rubble = cv2.dilate(boulders, _disk(radius)) > 0 if radius > 0 else boulders > 0
    # A boulder field: enough boulder cells among the seen cells around (the ground between
    # boulders is smooth, but it is the field's).
    kd = params.window_cells(params.rubble_density_window_m)
    around = cv2.boxFilter(seen.astype(np.float32), -1, (kd, kd), normalize=False,
                           borderType=cv2.BORDER_CONSTANT)
    field = cv2.boxFilter(boulders.astype(np.float32), -1, (kd, kd), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    rubble |= field >= params.rubble_min_boulder_fraction * np.maximum(around, 1.0)
    cls[rubble] = TerrainClass.RUBBLE
    kf = params.window_cells(params.class_filter_window_m)
    if params.class_filter_window_m > 0.0 and kf > 1:
        votes = np.stack([
            cv2.boxFilter(((cls == c) & seen).astype(np.float32), -1, (kf, kf),
                          normalize=False, borderType=cv2.BORDER_CONSTANT)
            for c in KNOWN_CLASSES])
        voted = np.asarray(KNOWN_CLASSES, dtype=np.int8)[np.argmax(votes, axis=0)]
        cls = np.where(votes.sum(axis=0) > 0, voted, cls).astype(np.int8)
    cls[seen & (cls == TerrainClass.UNKNOWN)] = TerrainClass.ROCK
    cls[~seen] = TerrainClass.UNKNOWN
    return cls


def graspability(cls: np.ndarray, slope_rad: np.ndarray, variance_m2: np.ndarray,
                 on_boulder: np.ndarray, params: TerrainParams,
                 grip: np.ndarray | None = None) -> np.ndarray:
    """Score each cell with the expected share of a claw's grip force that holds [0..1].

    The grip fraction of the class (rubble: of a boulder face where the cell stands above
    the local mean, else of the smooth ground between boulders), fading to zero between
    ``grasp_full_slope_deg`` and ``grasp_max_slope_deg``; zero where unknown or uncertain
    (and, in :func:`compute_layers`, where less than ``grasp_min_support`` of the plane
    window around the cell was seen: the edge of what is known).
    """
    table = grip_fraction_table() if grip is None else grip
    g = table[cls]
    between = (cls == TerrainClass.RUBBLE) & ~on_boulder
    g[between] = table[TerrainClass.SMOOTH]
    full = math.radians(params.grasp_full_slope_deg)
    zero = math.radians(params.grasp_max_slope_deg)
    g *= np.clip((zero - slope_rad) / (zero - full), 0.0, 1.0).astype(np.float32)
    with np.errstate(invalid='ignore'):
        g[~(variance_m2 <= params.grasp_max_std_m ** 2)] = 0.0
    g[cls == TerrainClass.UNKNOWN] = 0.0
    return g.astype(np.float32)


def traversability(cls: np.ndarray, slope_rad: np.ndarray, step_m: np.ndarray,
                   grasp: np.ndarray, seen: np.ndarray, params: TerrainParams) -> dict:
    """Traversability [0..1] per :class:`TraverseMode`, NaN where unknown.

    Roll: smooth cells only (DESIGN.md section 5), falling to zero at the roll slope or
    step limit. Walk: any known cell, with the walk limits. Crawl: the best graspability
    within ``crawl_window_m``, zero beyond the crawl slope limit.
    """
    def limited(max_slope_deg: float, max_step_m: float) -> np.ndarray:
        load = np.maximum(slope_rad / max(math.radians(max_slope_deg), 1e-9),
                          step_m / max(max_step_m, 1e-9))
        return np.clip(1.0 - load, 0.0, 1.0)

    roll = limited(params.roll_max_slope_deg, params.roll_max_step_m)
    roll[cls != TerrainClass.SMOOTH] = 0.0
    walk = limited(params.walk_max_slope_deg, params.walk_max_step_m)
    kc = params.window_cells(params.crawl_window_m)
    crawl = cv2.dilate(grasp, _disk(kc // 2)).astype(np.float64)
    crawl[slope_rad > math.radians(params.crawl_max_slope_deg)] = 0.0
    out = {}
    for mode, layer in ((TraverseMode.ROLL, roll), (TraverseMode.WALK, walk),
                        (TraverseMode.CRAWL, crawl)):
        layer = layer.astype(np.float32)
        layer[~seen] = np.nan
        out[mode] = layer
    return out
