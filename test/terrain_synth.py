# SPDX-License-Identifier: Apache-2.0
"""Seeded synthetic terrain of DESIGN.md section 6's kinds, and a ray-casting depth camera.

Test helper for test_terrain_core.py (numpy + OpenCV only). Each kind follows the table's
geometry, read as follows (the simulator should generate the same):

- smooth: flat; a gentle undulation with height std 0.5-2.5 mm (< 3 mm), correlation
  length 0.3-0.8 m.
- regolith: ripples 1-2 cm high (crest to trough) and 10-30 cm long (wavelength), in one
  random direction with a slowly meandering phase, on smooth ground (std 0.5 mm).
- rubble: boulders 0.1-0.4 m across (ellipsoid caps, protruding 40-70 % of their width,
  slightly elongated, with 2 mm of surface texture) covering ``density`` of the ground
  (default 0.3, as in the scenario example), on smooth ground.
- rock: rough bedrock, band-limited fractal relief (features 1-8 cm across), scaled so
  that its 1st-99th percentile height range is 2-5 cm.

Heights are on a fine grid (1 cm by default, so 10 cm ripples are resolved) with
bilinear interpolation; ``kind`` holds the :class:`TerrainClass` value of every sample.
"""

from dataclasses import dataclass
import math

import cv2
import numpy as np

from space_miner.core.terrain_types import CameraIntrinsics, TerrainClass

KINDS = (TerrainClass.SMOOTH, TerrainClass.REGOLITH, TerrainClass.RUBBLE, TerrainClass.ROCK)


@dataclass
class Heightfield:
    """Heights [m] at nodes ``origin + (ix, iy) * resolution`` [m]; kind per node."""

    z: np.ndarray
    kind: np.ndarray
    origin_xy_m: tuple
    resolution_m: float

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear height [m] at odom (x, y); NaN outside."""
        fx = (np.asarray(x, dtype=float) - self.origin_xy_m[0]) / self.resolution_m
        fy = (np.asarray(y, dtype=float) - self.origin_xy_m[1]) / self.resolution_m
        ny, nx = self.z.shape
        inside = (fx >= 0) & (fx <= nx - 1) & (fy >= 0) & (fy <= ny - 1)
        fx = np.clip(np.where(inside, fx, 0.0), 0, nx - 1.000001)
        fy = np.clip(np.where(inside, fy, 0.0), 0, ny - 1.000001)
        ix = fx.astype(np.intp)
        iy = fy.astype(np.intp)
        ax = fx - ix
        ay = fy - iy
        flat = self.z.ravel()
        i00 = iy * nx + ix
        h = ((flat[i00] * (1 - ax) + flat[i00 + 1] * ax) * (1 - ay)
             + (flat[i00 + nx] * (1 - ax) + flat[i00 + nx + 1] * ax) * ay)
        return np.where(inside, h, np.nan)

    def kind_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Kind (TerrainClass value) of the nearest node; UNKNOWN outside."""
        ix = np.rint((np.asarray(x) - self.origin_xy_m[0]) / self.resolution_m).astype(int)
        iy = np.rint((np.asarray(y) - self.origin_xy_m[1]) / self.resolution_m).astype(int)
        ny, nx = self.z.shape
        inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        out = np.zeros(np.shape(ix), dtype=int)
        out[inside] = self.kind[iy[inside], ix[inside]]
        return out


def _noise(rng: np.random.Generator, shape: tuple, sigma_cells: float) -> np.ndarray:
    """Gaussian-filtered white noise with unit std."""
    white = rng.standard_normal(shape).astype(np.float32)
    k = int(2 * math.ceil(3 * sigma_cells) + 1)
    out = cv2.GaussianBlur(white, (k, k), sigma_cells, borderType=cv2.BORDER_REFLECT)
    out = out.astype(np.float64)
    return (out - out.mean()) / max(out.std(), 1e-12)


def smooth_field(rng: np.random.Generator, shape: tuple, res: float,
                 std_m: float | None = None) -> np.ndarray:
    """Flat ground: undulation with std 0.5-2.5 mm, correlation length 0.3-0.8 m."""
    std = rng.uniform(0.0005, 0.0025) if std_m is None else std_m
    return std * _noise(rng, shape, rng.uniform(0.3, 0.8) / res)


def regolith_field(rng: np.random.Generator, shape: tuple, res: float) -> np.ndarray:
    """Ripples 1-2 cm high, 10-30 cm long, on smooth ground."""
    ny, nx = shape
    height = rng.uniform(0.01, 0.02)
    wavelength = rng.uniform(0.10, 0.30)
    theta = rng.uniform(0.0, math.pi)
    yy, xx = np.mgrid[0:ny, 0:nx] * res
    u = xx * math.cos(theta) + yy * math.sin(theta)
    meander = 0.6 * _noise(rng, shape, 0.5 / res)
    phase = 2.0 * math.pi * u / wavelength + meander + rng.uniform(0, 2 * math.pi)
    return 0.5 * height * np.sin(phase) + smooth_field(rng, shape, res, 0.0005)


def rock_field(rng: np.random.Generator, shape: tuple, res: float) -> np.ndarray:
    """Rough bedrock: fractal relief scaled to a 2-5 cm 1st-99th percentile range."""
    z = np.zeros(shape)
    for corr_m, amp in ((0.08, 1.0), (0.04, 0.7), (0.02, 0.5), (0.01, 0.3)):
        z += amp * _noise(rng, shape, corr_m / res)
    relief = rng.uniform(0.02, 0.05)
    lo, hi = np.percentile(z, [1, 99])
    return (z - z.mean()) * relief / (hi - lo)


def add_boulders(rng: np.random.Generator, z: np.ndarray, mask: np.ndarray, res: float,
                 density: float = 0.3) -> np.ndarray:
    """Add boulders 0.1-0.4 m across covering ``density`` of ``mask``'s area."""
    ny, nx = z.shape
    area = float(np.count_nonzero(mask)) * res * res
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return z
    out = z.copy()
    covered = 0.0
    texture = 0.002 * _noise(rng, z.shape, 0.02 / res)
    while covered < density * area:
        i = rng.integers(ys.size)
        cx, cy = xs[i] * res, ys[i] * res
        diameter = rng.uniform(0.1, 0.4)
        a = diameter / 2.0
        b = a * rng.uniform(0.7, 1.0)
        height = diameter * rng.uniform(0.4, 0.7)
        rot = rng.uniform(0.0, math.pi)
        r_cells = int(math.ceil(a / res)) + 1
        x0, x1 = max(int(cx / res) - r_cells, 0), min(int(cx / res) + r_cells + 1, nx)
        y0, y1 = max(int(cy / res) - r_cells, 0), min(int(cy / res) + r_cells + 1, ny)
        yy, xx = np.mgrid[y0:y1, x0:x1] * res
        du, dv = xx - cx, yy - cy
        p = (du * math.cos(rot) + dv * math.sin(rot)) / a
        q = (-du * math.sin(rot) + dv * math.cos(rot)) / b
        inside = 1.0 - p * p - q * q
        cap = np.where(inside > 0, height * np.sqrt(np.maximum(inside, 0.0)), -np.inf)
        base = z[y0:y1, x0:x1].mean()
        cap = cap + base + texture[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], cap)
        covered += math.pi * a * b
    return out


def make_terrain(kind: TerrainClass, seed: int, size_m: float = 6.0,
                 res_m: float = 0.01, origin_xy_m: tuple = (-1.0, -3.0)) -> Heightfield:
    """Make a square patch [m] all of one kind, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    n = int(round(size_m / res_m)) + 1
    shape = (n, n)
    if kind == TerrainClass.SMOOTH:
        z = smooth_field(rng, shape, res_m)
    elif kind == TerrainClass.REGOLITH:
        z = regolith_field(rng, shape, res_m)
    elif kind == TerrainClass.ROCK:
        z = rock_field(rng, shape, res_m)
    elif kind == TerrainClass.RUBBLE:
        z = add_boulders(rng, smooth_field(rng, shape, res_m), np.ones(shape, bool), res_m)
    else:
        raise ValueError(f'no terrain of kind {kind!r}')
    return Heightfield(z, np.full(shape, int(kind)), origin_xy_m, res_m)


def make_mixed(seed: int, regions: list, size_m: float = 6.0, res_m: float = 0.01,
               origin_xy_m: tuple = (-1.0, -3.0)) -> Heightfield:
    """Smooth ground with circular regions ``(kind, (cx, cy) [m, odom], radius [m])``."""
    rng = np.random.default_rng(seed)
    n = int(round(size_m / res_m)) + 1
    shape = (n, n)
    z = smooth_field(rng, shape, res_m)
    kind = np.full(shape, int(TerrainClass.SMOOTH))
    yy, xx = np.mgrid[0:n, 0:n] * res_m
    xx = xx + origin_xy_m[0]
    yy = yy + origin_xy_m[1]
    for region_kind, centre, radius in regions:
        mask = np.hypot(xx - centre[0], yy - centre[1]) <= radius
        if region_kind == TerrainClass.RUBBLE:
            z = np.where(mask, add_boulders(rng, z, mask, res_m), z)
        elif region_kind == TerrainClass.REGOLITH:
            z = np.where(mask, z + regolith_field(rng, shape, res_m), z)
        elif region_kind == TerrainClass.ROCK:
            z = np.where(mask, z + rock_field(rng, shape, res_m), z)
        kind[mask] = int(region_kind)
    return Heightfield(z, kind, origin_xy_m, res_m)


def capsule_depth(origin: np.ndarray, d: np.ndarray, capsules: list) -> np.ndarray:
    """Parameter t (point = origin + t d) of the first hit on any capsule; inf if none."""
    norm = np.linalg.norm(d, axis=1)
    rd = d / norm[:, None]
    best = np.full(d.shape[0], np.inf)
    for a, b, r in capsules:
        a = np.asarray(a, dtype=float)
        ba = np.asarray(b, dtype=float) - a
        oa = origin - a
        baba = ba @ ba
        bard = rd @ ba
        baoa = oa @ ba
        rdoa = rd @ oa
        oaoa = oa @ oa
        qa = baba - bard * bard
        qb = baba * rdoa - baoa * bard
        qc = baba * oaoa - baoa * baoa - r * r * baba
        h = qb * qb - qa * qc
        with np.errstate(invalid='ignore', divide='ignore'):
            t = (-qb - np.sqrt(h)) / qa
            y = baoa + t * bard
            side = (h >= 0) & (y > 0) & (y < baba) & (t > 0)
            # The end caps (spheres at a and b).
            for centre in (a, a + ba):
                oc = origin - centre
                cb = rd @ oc
                cc = oc @ oc - r * r
                hs = cb * cb - cc
                ts = -cb - np.sqrt(hs)
                cap = (hs >= 0) & (ts > 0)
                best = np.where(cap, np.minimum(best, ts), best)
        best = np.where(side, np.minimum(best, t), best)
    return best / norm


def render_depth(hf: Heightfield, intrinsics: CameraIntrinsics,
                 transform_odom_optical: np.ndarray, max_range_m: float = 6.0,
                 noise_std_m: float = 0.0, seed: int = 0, step_m: float = 0.005,
                 capsules: list | None = None) -> np.ndarray:
    """Depth image [m along the optical axis] of ``hf`` by ray marching; NaN for no hit.

    Every ray marches in ``step_m`` steps through the height band of the terrain, and a
    crossing is refined by bisection; ``capsules`` ``(start, end, radius)`` [m] (the
    robot's own legs) are intersected exactly. Gaussian noise of ``noise_std_m`` is added.
    """
    h, w = intrinsics.height, intrinsics.width
    u = (np.arange(w) - intrinsics.cx) / intrinsics.fx
    v = (np.arange(h) - intrinsics.cy) / intrinsics.fy
    uu, vv = np.meshgrid(u, v)
    rays = np.stack([uu, vv, np.ones_like(uu)], axis=-1).reshape(-1, 3)
    rot = transform_odom_optical[:3, :3]
    origin = transform_odom_optical[:3, 3]
    d = rays @ rot.T       # point = origin + t d, with t the optical-axis depth
    norm = np.linalg.norm(d, axis=1)
    z_max = float(np.nanmax(hf.z)) + 1e-3
    z_min = float(np.nanmin(hf.z)) - 1e-3
    depth = np.full(d.shape[0], np.nan)
    down = d[:, 2] < -1e-9
    t0 = np.where(down, (origin[2] - z_max) / np.maximum(-d[:, 2], 1e-12), np.inf)
    t0 = np.maximum(t0, 0.02)
    t1 = np.where(down, (origin[2] - z_min) / np.maximum(-d[:, 2], 1e-12), 0.0)
    t1 = np.minimum(t1, max_range_m / norm)
    active = np.flatnonzero(down & (t0 < t1))
    t_prev = t0[active]

    def gap(idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = origin[None, :] + t[:, None] * d[idx]
        return p[:, 2] - hf.height(p[:, 0], p[:, 1])

    g_prev = gap(active, t_prev)
    hit_now = g_prev <= 0
    depth[active[hit_now]] = t_prev[hit_now]
    keep = ~hit_now & np.isfinite(g_prev)
    active, t_prev = active[keep], t_prev[keep]
    # A coarse map of the highest terrain within one coarse cell: where a ray is above it,
    # it may skip ahead by up to a coarse cell without missing a crossing.
    coarse = max(int(round(0.1 / hf.resolution_m)), 1)
    ny, nx = hf.z.shape
    pad_y, pad_x = (-ny) % coarse, (-nx) % coarse
    zp = np.pad(hf.z, ((0, pad_y), (0, pad_x)), mode='edge')
    cmax = zp.reshape(zp.shape[0] // coarse, coarse, zp.shape[1] // coarse, coarse).max((1, 3))
    cmax = cv2.dilate(cmax.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.float64)
    cell_m = coarse * hf.resolution_m
    d_xy = np.hypot(d[:, 0], d[:, 1])

    def skip(idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        p = origin[None, :] + t[:, None] * d[idx]
        cx = np.clip(((p[:, 0] - hf.origin_xy_m[0]) / cell_m).astype(int), 0, cmax.shape[1] - 1)
        cy = np.clip(((p[:, 1] - hf.origin_xy_m[1]) / cell_m).astype(int), 0, cmax.shape[0] - 1)
        above = p[:, 2] - cmax[cy, cx]
        by_height = np.where(above > 0, above / np.maximum(-d[idx, 2], 1e-12), 0.0)
        by_cell = cell_m / np.maximum(d_xy[idx], 1e-12)
        return np.minimum(by_height, by_cell)

    while active.size:
        dt = np.maximum(step_m / norm[active], skip(active, t_prev))
        t = t_prev + dt
        g = gap(active, t)
        hit = g <= 0
        if np.any(hit):
            idx = active[hit]
            lo, hi = t_prev[hit], t[hit]
            for _ in range(12):
                mid = 0.5 * (lo + hi)
                below = gap(idx, mid) <= 0
                hi = np.where(below, mid, hi)
                lo = np.where(below, lo, mid)
            depth[idx] = 0.5 * (lo + hi)
        keep = ~hit & np.isfinite(g) & (t < t1[active])
        active, t_prev = active[keep], t[keep]
    if capsules:
        own = capsule_depth(origin, d, capsules)
        depth = np.where(own < np.nan_to_num(depth, nan=np.inf), own, depth)
    if noise_std_m > 0:
        rng = np.random.default_rng(seed)
        depth = depth + rng.normal(0.0, noise_std_m, depth.shape)
    return depth.reshape(h, w).astype(np.float32)
