# SPDX-License-Identifier: Apache-2.0
"""A seeded terrain patch: a heightfield painted with the four kinds, plus boulders.

The patch is centred on the origin (x east, y north, z the local outward normal). Every
cell starts as the base kind ``smooth`` (height standard deviation well under the table's
3 mm) and the scenario's regions are painted over it in order:

- ``regolith``: ripples of crest-to-trough height and wavelength drawn from terrain.yaml
  (wavelengths shorter than four cells are not drawn, so the grid can represent them);
- ``rock``: rough bedrock whose peak-to-valley relief over the region is drawn from the
  table's range;
- ``rubble``: the ground stays smooth; boulders (ellipsoids, largest dimension from the
  table's range) cover ``density`` of the region's area. They are separate collision geoms
  in the simulator, which the claws grip at the rubble grip fraction.

Each cell's true kind and height are available (:meth:`Terrain.kind_at`,
:meth:`Terrain.height_at`, the ``kinds``/``heights_m`` arrays) for tests and for the
simulator's per-contact friction and grip fraction. Pure numpy/scipy; no MuJoCo.
"""

from dataclasses import dataclass
import math
from typing import Sequence

import numpy as np
from scipy import ndimage

from space_miner.core.robot import ConfigError
from space_miner.core.scenario import BASE_KIND, TERRAIN_KINDS, TerrainSpec, TerrainTable

#: Boulders a patch may hold (the physics budget of DESIGN.md section 1 is ~200 rocks).
MAX_BOULDERS = 600
#: How much of a boulder's vertical semi-axis sits above its ground point (the rest is buried).
BOULDER_EXPOSED_FRACTION = 0.7
#: Width over which a painted region blends into what lies under it [m].
BLEND_WIDTH_M = 0.1


@dataclass(frozen=True)
class Boulder:
    """An ellipsoidal boulder: centre [m], semi-axes (a, b, c) [m], yaw about z [rad]."""

    center_m: tuple
    semi_axes_m: tuple
    yaw_rad: float

    @property
    def size_m(self) -> float:
        """Largest dimension [m]."""
        return 2.0 * max(self.semi_axes_m)

    @property
    def top_z_m(self) -> float:
        """Highest point [m]."""
        return self.center_m[2] + self.semi_axes_m[2]


def kind_index(kind: str) -> int:
    """Index of a kind in :data:`TERRAIN_KINDS` (the value stored in ``Terrain.kinds``)."""
    return TERRAIN_KINDS.index(kind)


class Terrain:
    """The generated patch: heights [m], kinds per cell, boulders; queries by position."""

    def __init__(self, spec: TerrainSpec, heights_m: np.ndarray, kinds: np.ndarray,
                 boulders: Sequence[Boulder]) -> None:
        self.spec = spec
        #: Heights [m], shape (ny, nx); row i is y = y_m[i], column j is x = x_m[j].
        self.heights_m = heights_m
        #: Kind index (into TERRAIN_KINDS) per cell, shape (ny, nx).
        self.kinds = kinds
        self.boulders = tuple(boulders)
        ny, nx = heights_m.shape
        self.x_m = np.linspace(-spec.size_m[0] / 2.0, spec.size_m[0] / 2.0, nx)
        self.y_m = np.linspace(-spec.size_m[1] / 2.0, spec.size_m[1] / 2.0, ny)
        self.dx_m = float(self.x_m[1] - self.x_m[0])
        self.dy_m = float(self.y_m[1] - self.y_m[0])
        if self.boulders:
            self._b_center = np.array([b.center_m for b in self.boulders])
            self._b_axes = np.array([b.semi_axes_m for b in self.boulders])
            self._b_yaw = np.array([b.yaw_rad for b in self.boulders])

    @property
    def shape(self) -> tuple:
        """(ny, nx) cells."""
        return self.heights_m.shape

    def contains(self, x_m: float, y_m: float) -> bool:
        """Whether (x, y) [m] lies on the patch."""
        return self.spec.contains(x_m, y_m)

    def cell(self, x_m: float, y_m: float) -> tuple:
        """(row, column) of the cell nearest to (x, y) [m], clamped to the patch."""
        col = int(round((x_m - self.x_m[0]) / self.dx_m))
        row = int(round((y_m - self.y_m[0]) / self.dy_m))
        return (min(max(row, 0), self.shape[0] - 1), min(max(col, 0), self.shape[1] - 1))

    def kind_at(self, x_m: float, y_m: float) -> str:
        """Return the true terrain kind of the cell at (x, y) [m]."""
        return TERRAIN_KINDS[int(self.kinds[self.cell(x_m, y_m)])]

    def height_at(self, x_m: float, y_m: float) -> float:
        """Heightfield height at (x, y) [m], bilinear between cells (boulders excluded)."""
        fx = min(max((x_m - self.x_m[0]) / self.dx_m, 0.0), self.shape[1] - 1.000001)
        fy = min(max((y_m - self.y_m[0]) / self.dy_m, 0.0), self.shape[0] - 1.000001)
        j, i = int(fx), int(fy)
        tx, ty = fx - j, fy - i
        h = self.heights_m
        return float((1 - ty) * ((1 - tx) * h[i, j] + tx * h[i, j + 1])
                     + ty * ((1 - tx) * h[i + 1, j] + tx * h[i + 1, j + 1]))

    def boulder_top_at(self, x_m: float, y_m: float) -> float:
        """Height of the highest boulder surface above (x, y) [m]; -inf where there is none."""
        if not self.boulders:
            return -math.inf
        dx = x_m - self._b_center[:, 0]
        dy = y_m - self._b_center[:, 1]
        cos_y, sin_y = np.cos(self._b_yaw), np.sin(self._b_yaw)
        u = (cos_y * dx + sin_y * dy) / self._b_axes[:, 0]
        v = (-sin_y * dx + cos_y * dy) / self._b_axes[:, 1]
        inside = u * u + v * v < 1.0
        if not np.any(inside):
            return -math.inf
        rest = np.sqrt(1.0 - u[inside] ** 2 - v[inside] ** 2)
        return float(np.max(self._b_center[inside, 2] + self._b_axes[inside, 2] * rest))

    def surface_height_at(self, x_m: float, y_m: float) -> float:
        """Height of the top surface at (x, y) [m]: the heightfield or a boulder on it."""
        return max(self.height_at(x_m, y_m), self.boulder_top_at(x_m, y_m))


def _smooth_noise(rng: np.random.Generator, shape: tuple, sigma_cells: float) -> np.ndarray:
    """Zero-mean unit-std Gaussian-filtered noise."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_cells, mode='wrap')
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else field


def generate_terrain(spec: TerrainSpec, table: TerrainTable, seed: int, *,
                     keep_clear: Sequence[tuple] = ()) -> Terrain:
    """Generate the patch of ``spec`` for ``seed`` (bit-identical for the same inputs).

    ``keep_clear`` holds (x, y, radius) discs [m] where no boulder is placed (e.g. the
    robot's start site).
    """
    rng = np.random.default_rng(seed)
    nx = int(round(spec.size_m[0] / spec.resolution_m)) + 1
    ny = int(round(spec.size_m[1] / spec.resolution_m)) + 1
    res = spec.resolution_m
    xs = np.linspace(-spec.size_m[0] / 2.0, spec.size_m[0] / 2.0, nx)
    ys = np.linspace(-spec.size_m[1] / 2.0, spec.size_m[1] / 2.0, ny)
    gx, gy = np.meshgrid(xs, ys)

    smooth_std_m = table['smooth'].geometry['height_std_max_m'] / 3.0
    base = smooth_std_m * _smooth_noise(rng, (ny, nx), max(1.0, 0.3 / res))
    heights = base.copy()
    kinds = np.full((ny, nx), kind_index(BASE_KIND), dtype=np.uint8)
    rubble_regions = []

    for index, region in enumerate(spec.regions):
        cx, cy = region.center_m
        dist = np.hypot(gx - cx, gy - cy)
        inside = dist <= region.radius_m
        weight = np.clip((region.radius_m - dist) / max(BLEND_WIDTH_M, 2 * res) + 0.5, 0.0, 1.0)
        geo = table[region.kind].geometry
        if region.kind == 'regolith':
            lo_h, hi_h = geo['ripple_height_m']
            lo_l, hi_l = geo['ripple_length_m']
            height_m = rng.uniform(lo_h, hi_h)
            length_m = rng.uniform(max(lo_l, min(hi_l, 4.0 * res)), hi_l)
            theta = rng.uniform(0.0, math.pi)
            phase = rng.uniform(0.0, 2.0 * math.pi)
            along = gx * math.cos(theta) + gy * math.sin(theta)
            feature = base + 0.5 * height_m * np.sin(2.0 * math.pi * along / length_m + phase)
        elif region.kind == 'rock':
            lo_r, hi_r = geo['relief_m']
            relief_m = rng.uniform(lo_r, hi_r)
            rough = (_smooth_noise(rng, (ny, nx), max(1.0, 0.25 / res))
                     + 0.5 * _smooth_noise(rng, (ny, nx), max(0.7, 0.08 / res)))
            span = np.ptp(rough[inside]) if np.any(inside) else 1.0
            rough = (rough - rough[inside].mean() if np.any(inside) else rough) / max(span, 1e-9)
            feature = base + relief_m * rough
        else:
            feature = base
            if region.kind == 'rubble':
                rubble_regions.append((index, region))
        heights = heights * (1.0 - weight) + feature * weight
        kinds[inside] = kind_index(region.kind)

    terrain = Terrain(spec, heights, kinds, ())
    boulders = []
    for index, region in rubble_regions:
        lo_s, hi_s = table['rubble'].geometry['boulder_size_m']
        area_m2 = math.pi * region.radius_m ** 2 * region.density
        covered = 0.0
        attempts = 0
        while covered < area_m2 and attempts < 20 * MAX_BOULDERS:
            attempts += 1
            size_m = rng.uniform(lo_s, hi_s)
            a = size_m / 2.0
            b = a * rng.uniform(0.6, 1.0)
            c = a * rng.uniform(0.5, 0.8)
            r = region.radius_m * math.sqrt(rng.uniform())
            phi = rng.uniform(0.0, 2.0 * math.pi)
            yaw = rng.uniform(0.0, math.pi)
            x = region.center_m[0] + r * math.cos(phi)
            y = region.center_m[1] + r * math.sin(phi)
            covered += math.pi * a * b
            if not spec.contains(x, y, margin_m=a):
                continue
            if terrain.kind_at(x, y) != 'rubble':
                continue  # painted over by a later region
            if any(math.hypot(x - kx, y - ky) < kr + a for kx, ky, kr in keep_clear):
                continue
            z = terrain.height_at(x, y) - c * (1.0 - BOULDER_EXPOSED_FRACTION)
            boulders.append(Boulder((x, y, z), (a, b, c), yaw))
            if len(boulders) > MAX_BOULDERS:
                raise ConfigError(f'terrain.regions[{index}].density', region.density,
                                  f'would place more than {MAX_BOULDERS} boulders')
    return Terrain(spec, heights, kinds, boulders)
