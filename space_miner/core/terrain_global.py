# SPDX-License-Identifier: Apache-2.0
"""The global map: the whole terrain patch at a coarse resolution, for route planning.

Each update folds the local grid's seen cells into the coarse cells they fall in: class
votes (counts of fine cells per class), a weighted mean elevation [m], the largest step
[m] and slope [rad], and the mean graspability and traversability. A coarse cell keeps at
most ``global_vote_cap`` fine cells' worth of evidence, so newer views still count.
"""

import numpy as np

from space_miner.core.terrain_params import TerrainParams
from space_miner.core.terrain_types import (GridGeometry, KNOWN_CLASSES, TerrainClass,
                                            TerrainLayers, TraverseMode)


class GlobalTerrainMap:
    """Coarse, fixed map of the patch in odom, indexed [iy, ix]."""

    def __init__(self, params: TerrainParams) -> None:
        n = params.global_cells
        self.geometry = GridGeometry(tuple(params.global_origin_xy_m),
                                     params.global_resolution_m, n)
        self.vote_cap = params.global_vote_cap
        self.votes = np.zeros((len(KNOWN_CLASSES), n, n))
        self.weight = np.zeros((n, n))
        self.elevation_m = np.full((n, n), np.nan)
        self.max_step_m = np.full((n, n), np.nan)
        self.max_slope_rad = np.full((n, n), np.nan)
        self.graspability = np.zeros((n, n))
        self.traversability = {mode: np.full((n, n), np.nan) for mode in TraverseMode}

    @property
    def seen(self) -> np.ndarray:
        """Coarse cells holding any evidence, bool (cells, cells)."""
        return self.weight > 0.0

    @property
    def terrain_class(self) -> np.ndarray:
        """Most-voted class per coarse cell (int8 of :class:`TerrainClass`)."""
        cls = np.asarray(KNOWN_CLASSES, dtype=np.int8)[np.argmax(self.votes, axis=0)]
        cls[~self.seen] = TerrainClass.UNKNOWN
        return cls

    def update(self, layers: TerrainLayers) -> int:
        """Fold the local layers' seen cells in; returns how many coarse cells changed."""
        seen = layers.seen
        if not np.any(seen):
            return 0
        xs, ys = layers.geometry.cell_centres()
        g = self.geometry
        ix = np.floor((xs[seen] - g.origin_xy_m[0]) / g.resolution_m).astype(np.int64)
        iy = np.floor((ys[seen] - g.origin_xy_m[1]) / g.resolution_m).astype(np.int64)
        inside = (ix >= 0) & (ix < g.cells) & (iy >= 0) & (iy < g.cells)
        if not np.any(inside):
            return 0
        flat = iy[inside] * g.cells + ix[inside]
        size = g.cells * g.cells
        count = np.bincount(flat, minlength=size).astype(float)
        touched = count > 0
        cls = layers.terrain_class[seen][inside]
        new_votes = np.stack([np.bincount(flat, weights=(cls == c).astype(float),
                                          minlength=size) for c in KNOWN_CLASSES])
        elev = np.bincount(flat, weights=layers.elevation_m[seen][inside], minlength=size)
        grasp = np.bincount(flat, weights=layers.graspability[seen][inside], minlength=size)
        step = np.full(size, -np.inf)
        np.maximum.at(step, flat, layers.step_m[seen][inside].astype(float))
        slope = np.full(size, -np.inf)
        np.maximum.at(slope, flat, layers.slope_rad[seen][inside].astype(float))

        old_w = self.weight.reshape(-1)
        keep = np.minimum(old_w, self.vote_cap - np.minimum(count, self.vote_cap))
        keep = np.where(old_w > 0, keep / np.maximum(old_w, 1e-12), 0.0)
        t = touched
        votes = self.votes.reshape(len(KNOWN_CLASSES), -1)
        votes[:, t] = votes[:, t] * keep[t] + new_votes[:, t]
        w_old = old_w[t] * keep[t]
        w_new = w_old + count[t]
        e = self.elevation_m.reshape(-1)
        e_old = np.where(w_old > 0, e[t], 0.0)
        e[t] = (e_old * w_old + elev[t]) / w_new
        gr = self.graspability.reshape(-1)
        gr[t] = (gr[t] * w_old + grasp[t]) / w_new
        for mode, layer in layers.traversability.items():
            tv = np.bincount(flat, weights=layer[seen][inside].astype(float), minlength=size)
            a = self.traversability[mode].reshape(-1)
            a_old = np.where(w_old > 0, a[t], 0.0)
            a[t] = (a_old * w_old + tv[t]) / w_new
        ms = self.max_step_m.reshape(-1)
        ms[t] = step[t]
        msl = self.max_slope_rad.reshape(-1)
        msl[t] = slope[t]
        old_w[t] = w_new
        return int(np.count_nonzero(t))

    def class_at(self, x_m: float, y_m: float) -> TerrainClass:
        """Most-voted class of the coarse cell at (x, y) [m]; UNKNOWN outside or unseen."""
        cell = self.geometry.cell_of(x_m, y_m)
        if cell is None:
            return TerrainClass.UNKNOWN
        return TerrainClass(int(self.terrain_class[cell[1], cell[0]]))
