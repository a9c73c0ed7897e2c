# SPDX-License-Identifier: Apache-2.0
"""Depth image to odom points, and the robot-centred elevation grid fused over time.

The per-pixel work is vectorised: a pinhole camera's ray table is separable (a row of
``(u - cx) / fx`` and a column of ``(v - cy) / fy``), so each coordinate of every point is
one broadcast multiply-add, and per-cell statistics are ``np.bincount`` sums.

A cell's measurement in one frame is the mean height of its points, corrected to the cell
centre with the local gradient (the points of a cell seen at a grazing angle bunch on its
near side); its variance comes from the range-dependent depth noise, the spread of the
points in the cell and a model floor. Cells are fused with a scalar Kalman filter per cell;
a measurement beyond ``gate_sigma`` resets the cell (the terrain or the pose changed).
"""

from dataclasses import dataclass
import math

import numpy as np

from space_miner.core.terrain_params import TerrainParams
from space_miner.core.terrain_types import CameraIntrinsics, GridGeometry

ENCODINGS = ('32FC1', '16UC1')


class RayTable:
    """Per-pixel ray directions of a pinhole camera in its optical frame (z forward).

    The ray of pixel (u, v) is ``(rx[0, u], ry[v, 0], 1)``: depth times it is the point.
    """

    def __init__(self, intrinsics: CameraIntrinsics) -> None:
        self.intrinsics = intrinsics
        u = np.arange(intrinsics.width, dtype=np.float64)
        v = np.arange(intrinsics.height, dtype=np.float64)
        self.rx = ((u - intrinsics.cx) / intrinsics.fx).astype(np.float32)[None, :]
        self.ry = ((v - intrinsics.cy) / intrinsics.fy).astype(np.float32)[:, None]

    def matches(self, intrinsics: CameraIntrinsics) -> bool:
        """Whether this table was built for ``intrinsics``."""
        return self.intrinsics == intrinsics


def decode_depth(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Depth along the optical axis [m] as float32 (invalid pixels keep NaN, 0 or inf).

    ``'32FC1'``: metres as given; ``'16UC1'``: millimetres, 0 invalid. Raises ValueError for
    another encoding or a dtype that does not match it.
    """
    if encoding == '32FC1':
        if depth.dtype != np.float32:
            if depth.dtype.kind != 'f':
                raise ValueError(f'32FC1 depth must be floating point, got {depth.dtype}')
            depth = depth.astype(np.float32)
        return depth
    if encoding == '16UC1':
        if depth.dtype != np.uint16:
            raise ValueError(f'16UC1 depth must be uint16 millimetres, got {depth.dtype}')
        return depth.astype(np.float32) * np.float32(0.001)
    raise ValueError(f'depth encoding {encoding!r} is not one of {ENCODINGS}')


def valid_depth_mask(depth_m: np.ndarray, min_depth_m: float, max_depth_m: float) -> np.ndarray:
    """Pixels whose depth is finite, positive and within [min, max] [m]."""
    return (depth_m >= max(min_depth_m, 1e-6)) & (depth_m <= max_depth_m)


def depth_to_points(depth: np.ndarray, encoding: str, rays: RayTable,
                    transform_odom_optical: np.ndarray, min_depth_m: float,
                    max_depth_m: float) -> np.ndarray:
    """Back-project valid pixels to points in odom [m], (N, 3) float32, row-major order.

    ``transform_odom_optical`` is the 4x4 pose of the optical frame (z forward, x right,
    y down) in odom. Computed in float32 (about 1e-6 relative).
    """
    z = decode_depth(np.asarray(depth), encoding)
    valid = valid_depth_mask(z, min_depth_m, max_depth_m)
    zs = z[valid]
    rot = transform_odom_optical[:3, :3].astype(np.float32)
    t = transform_odom_optical[:3, 3].astype(np.float32)
    out = np.empty((zs.size, 3), dtype=np.float32)
    for row in range(3):
        table = (rot[row, 0] * rays.rx + rot[row, 2]) + rot[row, 1] * rays.ry
        out[:, row] = zs * table[valid] + t[row]
    return out


@dataclass
class CellMeasurements:
    """One frame's per-cell statistics on a grid, flat arrays of length cells**2.

    ``count`` points per cell; ``mean_frac_x``/``mean_frac_y`` the points' centroid within
    the cell [cells, 0..1]; ``mean_z_m`` and ``var_z_m2`` their height mean and spread in
    odom; NaN where ``count`` is 0.
    """

    count: np.ndarray
    mean_frac_x: np.ndarray
    mean_frac_y: np.ndarray
    mean_z_m: np.ndarray
    var_z_m2: np.ndarray
    valid_pixels: int
    points_in_grid: int


def pixel_bands(rays: RayTable, transform_odom_optical: np.ndarray, ground_z_m: float | None,
                resolution_m: float, samples_per_cell: float, max_stride: int) -> list:
    """Row bands ``(v0, v1, stride_v, stride_u)`` that sample the image just densely enough.

    A row whose pixels cover much less ground than a cell (near the robot, where hundreds
    of pixels fall in one cell) is read every ``stride`` pixels, so that about
    ``samples_per_cell`` samples still fall along each side of a cell on flat ground at
    ``ground_z_m`` [m, odom]; strides are powers of two up to ``max_stride``. Without a
    ground estimate, or with ``max_stride`` 1, the whole image is one band.
    """
    height = rays.ry.shape[0]
    cam_h = float(transform_odom_optical[2, 3]) - (ground_z_m if ground_z_m is not None
                                                   else math.inf)
    if max_stride <= 1 or not math.isfinite(cam_h) or cam_h <= 0.0 or height == 0:
        return [(0, height, 1, 1)]
    rot = transform_odom_optical[:3, :3]
    ry = rays.ry[:, 0].astype(np.float64)
    # The central ray of each row, in odom; its angle below the horizontal.
    d = rot[:, 1][None, :] * ry[:, None] + rot[:, 2][None, :]
    sin_g = -d[:, 2] / np.linalg.norm(d, axis=1)
    fx, fy = rays.intrinsics.fx, rays.intrinsics.fy
    target = resolution_m / samples_per_cell
    strides = []
    for axis_f, power in ((fy, 2.0), (fx, 1.0)):
        with np.errstate(divide='ignore', invalid='ignore'):
            footprint = cam_h / (axis_f * np.maximum(sin_g, 1e-9) ** power)
            raw = np.where(sin_g > 0.05, target / footprint, 1.0)
        stride = np.ones(height, dtype=int)
        s = 2
        while s <= max_stride:
            stride[raw >= s] = s
            s *= 2
        strides.append(stride)
    bands = []
    v = 0
    while v < height:
        sv, su = int(strides[0][v]), int(strides[1][v])
        v1 = v + 1
        while v1 < height and strides[0][v1] == sv and strides[1][v1] == su:
            v1 += 1
        bands.append((v, v1, sv, su))
        v = v1
    return bands


def cell_measurements(depth_m: np.ndarray, rays: RayTable, transform_odom_optical: np.ndarray,
                      geometry: GridGeometry, min_depth_m: float, max_depth_m: float,
                      bands: list | None = None) -> CellMeasurements:
    """Bin a decoded depth image [m] into the grid cells and sum per-cell statistics.

    ``bands`` (see :func:`pixel_bands`) selects the pixels read; default all. Invalid
    pixels become NaN, whose cell index lands, like every point outside the grid, in a guard
    row and column that is dropped: no per-pixel branching or compaction.
    """
    n = geometry.cells
    inv = 1.0 / geometry.resolution_m
    rot = [[float(v) for v in row] for row in transform_odom_optical[:3, :3]]
    t = [float(v) for v in transform_odom_optical[:3, 3]]
    n_valid = int(np.count_nonzero(valid_depth_mask(depth_m, min_depth_m, max_depth_m)))
    bins = (n + 1) * (n + 1)
    sums = np.zeros((5, bins))
    if bands is None:
        bands = [(0, depth_m.shape[0], 1, 1)]
    for v0, v1, sv, su in bands:
        band = depth_m[v0:v1:sv, ::su]
        valid = valid_depth_mask(band, min_depth_m, max_depth_m)
        z = np.where(valid, band, np.float32(np.nan)).astype(np.float64)
        rx = rays.rx[:, ::su].astype(np.float64)
        ry = rays.ry[v0:v1:sv].astype(np.float64)

        def coordinate(row: int, scale: float, offset: float) -> np.ndarray:
            # (R @ ray)[row] * scale from the separable ray table; point = depth * it + t.
            a_u = (rot[row][0] * scale) * rx + rot[row][2] * scale
            out = z * (a_u + (rot[row][1] * scale) * ry)
            out += offset
            return out.ravel()

        # Coordinates in cells; +1 makes truncation a floor for every point that can be in.
        fx = coordinate(0, inv, (t[0] - geometry.origin_xy_m[0]) * inv + 1.0)
        fy = coordinate(1, inv, (t[1] - geometry.origin_xy_m[1]) * inv + 1.0)
        hz = coordinate(2, 1.0, 0.0)   # height above the camera [m]
        with np.errstate(invalid='ignore'):
            ix = fx.astype(np.int32)
            iy = fy.astype(np.int32)
        ix -= 1
        iy -= 1
        guard = np.uint32(n)
        flat = np.minimum(iy.view(np.uint32), guard).astype(np.intp)
        flat *= n + 1
        flat += np.minimum(ix.view(np.uint32), guard)
        sums[0] += np.bincount(flat, minlength=bins)
        sums[1] += np.bincount(flat, weights=fx, minlength=bins)
        sums[2] += np.bincount(flat, weights=fy, minlength=bins)
        sums[3] += np.bincount(flat, weights=hz, minlength=bins)
        sums[4] += np.bincount(flat, weights=hz * hz, minlength=bins)
    count, sum_fx, sum_fy, sum_z, sum_zz = (
        a.reshape(n + 1, n + 1)[:n, :n].ravel() for a in sums)
    with np.errstate(invalid='ignore', divide='ignore'):
        mean_z = sum_z / count
        var_z = np.maximum(sum_zz / count - mean_z * mean_z, 0.0)
        cell_x = np.tile(np.arange(n, dtype=np.float64), n)
        cell_y = np.repeat(np.arange(n, dtype=np.float64), n)
        mfx = sum_fx / count - 1.0 - cell_x
        mfy = sum_fy / count - 1.0 - cell_y
    return CellMeasurements(count, mfx, mfy, mean_z + t[2], var_z, n_valid,
                            int(count.sum()))


def cells_near_segments(geometry: GridGeometry, segments: list, margin_m: float) -> np.ndarray:
    """Cells [bool (cells, cells)] within reach of any capsule ``(start, end, radius)`` [m].

    A cell is marked when its centre is closer to a capsule's axis, in xy, than the radius
    plus half the cell's diagonal plus ``margin_m``: every point on the capsule falls in a
    marked cell.
    """
    n = geometry.cells
    mask = np.zeros((n, n), dtype=bool)
    if not segments:
        return mask
    half_diag = geometry.resolution_m / math.sqrt(2.0)
    reach = max(r for _, _, r in segments) + half_diag + margin_m
    ends = np.array([np.asarray(p, dtype=float)[:2] for s in segments for p in s[:2]])
    lo = np.floor((ends.min(axis=0) - reach - geometry.origin_xy_m) / geometry.resolution_m)
    hi = np.ceil((ends.max(axis=0) + reach - geometry.origin_xy_m) / geometry.resolution_m)
    x0, y0 = (int(v) for v in np.clip(lo, 0, n))
    x1, y1 = (int(v) for v in np.clip(hi + 1, 0, n))
    if x0 >= x1 or y0 >= y1:
        return mask
    xs = geometry.origin_xy_m[0] + (np.arange(x0, x1) + 0.5) * geometry.resolution_m
    ys = geometry.origin_xy_m[1] + (np.arange(y0, y1) + 0.5) * geometry.resolution_m
    xs, ys = np.meshgrid(xs, ys)
    sub = mask[y0:y1, x0:x1]
    for start, end, radius in segments:
        a = np.asarray(start, dtype=float)[:2]
        ab = np.asarray(end, dtype=float)[:2] - a
        length2 = float(ab @ ab)
        px, py = xs - a[0], ys - a[1]
        s = np.clip((px * ab[0] + py * ab[1]) / length2, 0.0, 1.0) if length2 > 1e-12 else 0.0
        dist = np.hypot(px - s * ab[0], py - s * ab[1])
        sub |= dist <= radius + half_diag + margin_m
    return mask


def drop_cells(meas: CellMeasurements, mask: np.ndarray) -> int:
    """Forget this frame's points in the masked cells; returns how many had points."""
    flat = mask.ravel() & (meas.count > 0)
    meas.count[flat] = 0.0
    for a in (meas.mean_frac_x, meas.mean_frac_y, meas.mean_z_m, meas.var_z_m2):
        a[flat] = np.nan
    return int(np.count_nonzero(flat))


def centre_corrected_heights(meas: CellMeasurements, cells: int,
                             resolution_m: float) -> np.ndarray:
    """Per-cell height [m] at the cell centre, shape (cells, cells); NaN where no points.

    The cell's mean height is moved from the points' centroid to the cell centre along the
    gradient of this frame's mean heights (central differences; no correction where a
    neighbour is missing).
    """
    m = meas.mean_z_m.reshape(cells, cells)
    gx = np.zeros_like(m)
    gy = np.zeros_like(m)
    gx[:, 1:-1] = (m[:, 2:] - m[:, :-2]) / (2.0 * resolution_m)
    gy[1:-1, :] = (m[2:, :] - m[:-2, :]) / (2.0 * resolution_m)
    gx[~np.isfinite(gx)] = 0.0
    gy[~np.isfinite(gy)] = 0.0
    dx = (meas.mean_frac_x.reshape(cells, cells) - 0.5) * resolution_m
    dy = (meas.mean_frac_y.reshape(cells, cells) - 0.5) * resolution_m
    return m - gx * dx - gy * dy


def measurement_variance(meas: CellMeasurements, geometry: GridGeometry,
                         camera_xyz_m: np.ndarray, params: TerrainParams) -> np.ndarray:
    """Variance [m^2] of each cell's height measurement, shape (cells, cells); inf if none.

    ``(sigma(r)^2 + spread) / count + floor^2`` with ``sigma(r) = sigma0 + k r^2`` at the
    range ``r`` [m] from the camera to the cell centre.
    """
    n = geometry.cells
    xs, ys = geometry.cell_centres()
    z = meas.mean_z_m.reshape(n, n)
    rng2 = (xs - camera_xyz_m[0]) ** 2 + (ys - camera_xyz_m[1]) ** 2
    with np.errstate(invalid='ignore'):
        rng2 = rng2 + (z - camera_xyz_m[2]) ** 2
        sigma = params.depth_noise_std_m + params.depth_noise_quadratic_per_m * rng2
        count = meas.count.reshape(n, n)
        var = (sigma * sigma + meas.var_z_m2.reshape(n, n)) / np.maximum(count, 1.0)
    var = var + params.measurement_floor_std_m ** 2
    var[~(count > 0)] = np.inf
    return var


class ElevationGrid:
    """A square, robot-centred elevation grid in odom with a height variance per cell.

    ``height_m`` is NaN and ``variance_m2`` inf where never seen; ``seen`` marks cells with
    at least one fused measurement. The grid scrolls in whole cells with :meth:`recentre`.
    """

    def __init__(self, cells: int, resolution_m: float) -> None:
        self.cells = int(cells)
        self.resolution_m = float(resolution_m)
        self.origin_index = (0, 0)
        self.height_m = np.full((self.cells, self.cells), np.nan)
        self.variance_m2 = np.full((self.cells, self.cells), np.inf)

    @property
    def seen(self) -> np.ndarray:
        """Cells with at least one fused measurement, bool (cells, cells)."""
        return np.isfinite(self.variance_m2)

    @property
    def geometry(self) -> GridGeometry:
        """Where the grid lies in odom now."""
        return GridGeometry((self.origin_index[0] * self.resolution_m,
                             self.origin_index[1] * self.resolution_m),
                            self.resolution_m, self.cells)

    def reset(self) -> None:
        """Forget every cell."""
        self.height_m.fill(np.nan)
        self.variance_m2.fill(np.inf)

    def recentre(self, x_m: float, y_m: float) -> tuple:
        """Scroll the grid so that (x, y) [m] is at its centre; returns the shift [cells].

        Cells still inside keep their data; cells scrolled in are unknown.
        """
        new = (int(math.floor(x_m / self.resolution_m)) - self.cells // 2,
               int(math.floor(y_m / self.resolution_m)) - self.cells // 2)
        sx, sy = new[0] - self.origin_index[0], new[1] - self.origin_index[1]
        if sx == 0 and sy == 0:
            return 0, 0
        self.origin_index = new
        self.height_m = _shift(self.height_m, sx, sy, np.nan)
        self.variance_m2 = _shift(self.variance_m2, sx, sy, np.inf)
        return sx, sy

    def add_process_noise(self, variance_m2: float) -> None:
        """Grow the variance of every seen cell by ``variance_m2`` [m^2]."""
        if variance_m2 > 0.0:
            self.variance_m2 += variance_m2

    def fuse(self, heights_m: np.ndarray, variances_m2: np.ndarray, gate_sigma: float) -> int:
        """Kalman-update every cell with a measurement (finite height); returns how many."""
        has = np.isfinite(heights_m) & np.isfinite(variances_m2)
        if not np.any(has):
            return 0
        h = self.height_m[has]
        p = self.variance_m2[has]
        z = heights_m[has]
        r = variances_m2[has]
        fresh = ~np.isfinite(p)
        with np.errstate(invalid='ignore'):
            innovation = z - h
            reset = fresh | (np.abs(innovation) > gate_sigma * np.sqrt(p + r))
            gain = np.where(reset, 1.0, p / (p + r))
            self.height_m[has] = np.where(reset, z, h + gain * innovation)
            self.variance_m2[has] = np.where(reset, r, (1.0 - gain) * p)
        return int(np.count_nonzero(has))


def _shift(a: np.ndarray, sx: int, sy: int, fill: float) -> np.ndarray:
    """Content of ``a`` seen from an origin moved by (sx, sy) cells; uncovered cells fill."""
    out = np.full_like(a, fill)
    n_y, n_x = a.shape
    if abs(sx) >= n_x or abs(sy) >= n_y:
        return out
    src_x = slice(max(sx, 0), n_x + min(sx, 0))
    dst_x = slice(max(-sx, 0), n_x + min(-sx, 0))
    src_y = slice(max(sy, 0), n_y + min(sy, 0))
    dst_y = slice(max(-sy, 0), n_y + min(-sy, 0))
    out[dst_y, dst_x] = a[src_y, src_x]
    return out
