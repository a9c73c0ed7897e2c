# SPDX-License-Identifier: Apache-2.0
"""Route planning on the terrain's coarse global map: costs by class and gait, then A*.

The map (:class:`RouteMap`) is a square grid in odom, indexed ``[iy, ix]`` as the terrain
capability's :class:`~space_miner.core.terrain_global.GlobalTerrainMap`: per cell whether
it was ever seen, its class (:class:`~space_miner.core.terrain_types.TerrainClass`,
``UNKNOWN`` where not seen) and its traversability [0..1] per locomotion mode (NaN unknown).

A cell's cost is the time [s per metre] the cheapest gait the body allows takes to cross
it, times a factor per terrain class (:class:`CostModel`):

- ``roll`` only on smooth cells, and only where the body gives the wheels traction;
- ``walk`` only on bodies that do not require grip;
- ``crawl`` needs cells a claw can hold on: the best grip fraction near the cell (the
  crawl traversability layer) must give at least ``min_holding_claws`` claws enough
  holding, ``grip fraction x grip force x claws >= safety factor x expected load``. Cells
  with weak grips are crossed when the loads allow it, at a higher cost;
- a cell no allowed gait can cross is blocked, and blocked cells are inflated by the
  robot's radius; cells never seen cost ``unknown_cost_factor`` times the nominal cost
  (optimistic: the route is replanned as the map fills in).

:func:`plan_route` runs A* (8-connected, no corner cutting past blocked cells) with an
admissible Euclidean heuristic, and returns the route as a polyline in odom [m].
Pure Python and numpy, deterministic.
"""

from dataclasses import dataclass
import heapq
import math
from typing import Mapping, Sequence

import numpy as np

from space_miner.core.terrain_types import GridGeometry, TerrainClass

#: The locomotion modes a route may use, by name (``TraverseMode`` values).
ROUTE_MODES = ('roll', 'walk', 'crawl')


@dataclass(frozen=True)
class RouteMap:
    """A coarse terrain map for route planning, arrays of shape (cells, cells) [iy, ix].

    ``seen`` (bool), ``terrain_class`` (int8 of :class:`TerrainClass`), ``traversability``
    per mode name of :data:`ROUTE_MODES` ([0..1], NaN unknown; a missing mode counts as
    unknown). ``stamp_s`` [s] changes whenever the map does: the autopilot replans on it.
    """

    geometry: GridGeometry
    seen: np.ndarray
    terrain_class: np.ndarray
    traversability: Mapping[str, np.ndarray]
    stamp_s: float

    @classmethod
    def from_global(cls, gmap: object, stamp_s: float) -> 'RouteMap':
        """Copy the layers of a ``GlobalTerrainMap`` (duck-typed) stamped ``stamp_s`` [s]."""
        trav = {}
        for mode, layer in getattr(gmap, 'traversability').items():
            name = getattr(mode, 'value', mode)
            trav[str(name)] = np.array(layer, dtype=float)
        return cls(geometry=getattr(gmap, 'geometry'),
                   seen=np.array(getattr(gmap, 'seen'), dtype=bool),
                   terrain_class=np.array(getattr(gmap, 'terrain_class'), dtype=np.int8),
                   traversability=trav, stamp_s=float(stamp_s))

    @classmethod
    def from_classes(cls, geometry: GridGeometry, terrain_class: np.ndarray,
                     grip_fraction: Mapping[int, float], stamp_s: float = 0.0) -> 'RouteMap':
        """Build a map from a class grid alone (int of :class:`TerrainClass`).

        Traversability follows the classes: roll 1 on smooth and 0 elsewhere, walk 1,
        crawl the class's grip fraction (``grip_fraction`` maps a class to it); unknown
        cells stay unknown. For tests, and for maps that carry classes only.
        """
        classes = np.asarray(terrain_class, dtype=np.int8)
        seen = classes != TerrainClass.UNKNOWN
        nan = np.full(classes.shape, np.nan)
        roll = np.where(classes == TerrainClass.SMOOTH, 1.0, 0.0)
        walk = np.ones(classes.shape)
        crawl = np.zeros(classes.shape)
        for cls_value, fraction in grip_fraction.items():
            crawl[classes == int(cls_value)] = float(fraction)
        trav = {name: np.where(seen, layer, nan)
                for name, layer in (('roll', roll), ('walk', walk), ('crawl', crawl))}
        return cls(geometry, seen, classes, trav, float(stamp_s))

    @classmethod
    def from_occupancy(cls, geometry: GridGeometry, occupancy: np.ndarray, mode: str,
                       stamp_s: float) -> 'RouteMap':
        """Build a map from an OccupancyGrid's cells (0 free .. 100 blocked, -1 unknown).

        The grid is the traversability of one ``mode`` (``/terrain/global/traversability``);
        classes are unknown, so the class factors count as 1.
        """
        occ = np.asarray(occupancy, dtype=float).reshape(geometry.cells, geometry.cells)
        seen = occ >= 0.0
        trav = np.where(seen, 1.0 - np.clip(occ, 0.0, 100.0) / 100.0, np.nan)
        classes = np.full(occ.shape, int(TerrainClass.UNKNOWN), dtype=np.int8)
        return cls(geometry, seen, classes, {str(mode): trav}, float(stamp_s))

    def cell_of(self, x_m: float, y_m: float) -> tuple | None:
        """(ix, iy) of the cell at (x, y) [m], or None off the map."""
        if not (math.isfinite(x_m) and math.isfinite(y_m)):
            return None
        return self.geometry.cell_of(x_m, y_m)

    def centre_of(self, ix: int, iy: int) -> tuple:
        """Odom (x, y) [m] of the centre of cell (ix, iy)."""
        g = self.geometry
        return (g.origin_xy_m[0] + (ix + 0.5) * g.resolution_m,
                g.origin_xy_m[1] + (iy + 0.5) * g.resolution_m)


@dataclass(frozen=True)
class CostModel:
    """What crossing a cell costs, from the body, the gaits it allows and the loads.

    ``speeds_m_s`` maps each mode the body allows (names of :data:`ROUTE_MODES`) to its
    speed [m/s]; a mode absent or at zero speed is not used. ``class_factor`` maps a
    :class:`TerrainClass` (int) to a cost factor (missing: 1). ``grip_force_n`` [N] is the
    squeeze of a gripping claw, ``crawl_load_n`` [N] the load the grips must carry while
    crawling (wrist loads plus the body's outward pull), ``load_safety_factor`` the
    holding / load ratio the never-detach rule asks, ``min_holding_claws`` the claws that
    hold while one moves. ``min_traversability`` [0..1] is the least a roll or walk cell
    needs; ``weak_grip_cost_factor`` adds cost as grip weakens (crawl: cost x (1 + k (1 -
    grip))); ``unknown_cost_factor`` multiplies the nominal cost of an unseen cell.
    """

    speeds_m_s: Mapping[str, float]
    class_factor: Mapping[int, float]
    grip_force_n: float
    crawl_load_n: float
    load_safety_factor: float
    min_holding_claws: int
    min_traversability: float
    weak_grip_cost_factor: float
    unknown_cost_factor: float

    @property
    def modes(self) -> tuple:
        """Modes usable for routes, in :data:`ROUTE_MODES` order."""
        return tuple(m for m in ROUTE_MODES
                     if self.speeds_m_s.get(m, 0.0) > 0.0 and math.isfinite(self.speeds_m_s[m]))

    @property
    def min_crawl_grip(self) -> float:
        """Least grip fraction a crawl cell needs for the loads [0..1]."""
        holding_per_fraction_n = self.grip_force_n * self.min_holding_claws
        if holding_per_fraction_n <= 0.0:
            return math.inf
        return self.load_safety_factor * self.crawl_load_n / holding_per_fraction_n

    def nominal_s_per_m(self) -> float:
        """Cost [s/m] of an unseen cell: the fastest mode that needs no known terrain.

        Roll needs smooth ground, so unknown ground is judged at walk or crawl speed (roll
        only when it is the only mode).
        """
        modes = [m for m in self.modes if m != 'roll'] or list(self.modes)
        if not modes:
            return math.inf
        return self.unknown_cost_factor / max(self.speeds_m_s[m] for m in modes)

    def min_s_per_m(self) -> float:
        """Least cost per metre [s/m] of any cell (for an admissible A* heuristic)."""
        if not self.modes:
            return math.inf
        factors = [f for f in self.class_factor.values() if f > 0.0] + [1.0]
        low = min(min(factors), self.unknown_cost_factor)
        return low / max(self.speeds_m_s[m] for m in self.modes)

    def cost_grid(self, route_map: RouteMap) -> np.ndarray:
        """Cost [s/m] of every cell; ``inf`` where blocked (before inflation)."""
        shape = route_map.seen.shape
        best = np.full(shape, np.inf)
        classes = route_map.terrain_class
        factor = np.ones(shape)
        for cls_value, f in self.class_factor.items():
            factor[classes == int(cls_value)] = float(f)
        for mode in self.modes:
            layer = route_map.traversability.get(mode)
            if layer is None:
                continue
            t = np.asarray(layer, dtype=float)
            known = np.isfinite(t)
            speed = self.speeds_m_s[mode]
            if mode == 'crawl':
                need = self.min_crawl_grip
                ok = known & (t >= need) & (t > 0.0)
                penalty = 1.0 + self.weak_grip_cost_factor * (1.0 - np.clip(t, 0.0, 1.0))
            else:
                ok = known & (t >= self.min_traversability)
                penalty = 1.0 + (1.0 - np.clip(t, 0.0, 1.0))
                if mode == 'roll':
                    ok &= classes == TerrainClass.SMOOTH
            cost = np.where(ok, factor * penalty / speed, np.inf)
            best = np.minimum(best, cost)
        unseen = ~route_map.seen
        best[unseen] = self.nominal_s_per_m()
        return best


@dataclass(frozen=True)
class Route:
    """A planned route: polyline in odom [m] from the start to the goal, and its cost [s]."""

    points_m: tuple
    cost_s: float
    cells: int
    note: str = ''

    @property
    def length_m(self) -> float:
        """Length of the polyline [m]."""
        return sum(math.dist(a, b) for a, b in zip(self.points_m, self.points_m[1:]))


@dataclass(frozen=True)
class PlanResult:
    """The outcome of one planning call: a route, or None and why not."""

    route: Route | None
    reason: str = ''


def inflate_blocked(cost: np.ndarray, radius_cells: int) -> np.ndarray:
    """Return ``cost`` with every cell within ``radius_cells`` of a blocked one blocked."""
    blocked = ~np.isfinite(cost)
    if radius_cells <= 0 or not np.any(blocked):
        return cost.copy()
    out = cost.copy()
    n_y, n_x = cost.shape
    grown = blocked.copy()
    for dy in range(-radius_cells, radius_cells + 1):
        for dx in range(-radius_cells, radius_cells + 1):
            if dx * dx + dy * dy > radius_cells * radius_cells or (dx == 0 and dy == 0):
                continue
            src = blocked[max(0, -dy):n_y - max(0, dy), max(0, -dx):n_x - max(0, dx)]
            grown[max(0, dy):n_y - max(0, -dy), max(0, dx):n_x - max(0, -dx)] |= src
    out[grown] = np.inf
    return out


_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1))


def _restore_disc(out: np.ndarray, raw: np.ndarray, cell: tuple, radius_cells: int) -> None:
    """Put the raw cost back within ``radius_cells`` of ``cell`` (undo inflation there)."""
    ix, iy = cell
    n_y, n_x = raw.shape
    for dy in range(-radius_cells, radius_cells + 1):
        for dx in range(-radius_cells, radius_cells + 1):
            jx, jy = ix + dx, iy + dy
            if 0 <= jx < n_x and 0 <= jy < n_y and dx * dx + dy * dy <= radius_cells ** 2:
                out[jy, jx] = raw[jy, jx]


def plan_route(route_map: RouteMap, raw_cost: np.ndarray, start_xy_m: Sequence[float],
               goal_xy_m: Sequence[float], min_s_per_m: float, inflation_cells: int = 0,
               max_expansions: int = 200000) -> PlanResult:
    """Plan with A* on the ``raw_cost`` grid [s/m] from start to goal, odom [m].

    Blocked cells are first inflated by ``inflation_cells`` (the robot's radius), except
    within that radius of the start (the robot stands there and may leave) and of the
    goal (a site beside a boulder stays reachable). A blocked goal cell, a goal off the
    map or a goal walled off by blocked cells give no route and the reason. A start off
    the map gives the straight line (nothing known to plan on).
    """
    start = route_map.cell_of(float(start_xy_m[0]), float(start_xy_m[1]))
    goal = route_map.cell_of(float(goal_xy_m[0]), float(goal_xy_m[1]))
    sx, sy = float(start_xy_m[0]), float(start_xy_m[1])
    gx, gy = float(goal_xy_m[0]), float(goal_xy_m[1])
    if goal is None:
        return PlanResult(None, f'goal ({gx:.2f}, {gy:.2f}) m is off the map')
    if start is None:
        return PlanResult(Route(((sx, sy), (gx, gy)), math.nan, 0,
                                'start off the map: straight line'))
    cost = inflate_blocked(raw_cost, inflation_cells)
    _restore_disc(cost, raw_cost, start, inflation_cells)
    _restore_disc(cost, raw_cost, goal, inflation_cells)
    if not math.isfinite(cost[goal[1], goal[0]]):
        return PlanResult(None, f'goal ({gx:.2f}, {gy:.2f}) m lies on ground no allowed gait '
                                'can cross')
    if start == goal:
        return PlanResult(Route(((sx, sy), (gx, gy)), 0.0, 1))
    res = route_map.geometry.resolution_m
    n = route_map.geometry.cells
    h_scale = max(0.0, min_s_per_m) * res

    def heuristic(ix: int, iy: int) -> float:
        return h_scale * math.hypot(ix - goal[0], iy - goal[1])

    g_cost = {start: 0.0}
    parent: dict = {start: None}
    closed = set()
    counter = 0
    heap = [(heuristic(*start), 0, start)]
    expansions = 0
    while heap:
        _, _, node = heapq.heappop(heap)
        if node in closed:
            continue
        if node == goal:
            break
        closed.add(node)
        expansions += 1
        if expansions > max_expansions:
            return PlanResult(None, f'search gave up after {max_expansions} expansions')
        ix, iy = node
        base = g_cost[node]
        here = cost[iy, ix]
        for dx, dy in _NEIGHBOURS:
            jx, jy = ix + dx, iy + dy
            if not (0 <= jx < n and 0 <= jy < n):
                continue
            there = cost[jy, jx]
            if not math.isfinite(there) or (jx, jy) in closed:
                continue
            if dx and dy and not (math.isfinite(cost[iy, jx]) and math.isfinite(cost[jy, ix])):
                continue   # no corner cutting past a blocked cell
            step = res * (math.sqrt(2.0) if dx and dy else 1.0)
            mean = there if not math.isfinite(here) else 0.5 * (here + there)
            g_new = base + step * mean
            if g_new < g_cost.get((jx, jy), math.inf):
                g_cost[(jx, jy)] = g_new
                parent[(jx, jy)] = node
                counter += 1
                heapq.heappush(heap, (g_new + heuristic(jx, jy), counter, (jx, jy)))
    if goal not in parent:
        return PlanResult(None, f'no route to ({gx:.2f}, {gy:.2f}) m: blocked by ground no '
                                'allowed gait can cross')
    cells = []
    node = goal
    while node is not None:
        cells.append(node)
        node = parent[node]
    cells.reverse()
    points = [(sx, sy)] + [route_map.centre_of(ix, iy) for ix, iy in cells[1:-1]] + [(gx, gy)]
    along = [g_cost[c] for c in cells]
    points = _shortcut(points, along, route_map, cost)
    return PlanResult(Route(tuple(_simplify(points)), g_cost[goal], len(cells)))


def _line_cost(a: tuple, b: tuple, route_map: RouteMap, cost: np.ndarray) -> float:
    """Cost [s] of the straight segment a-b over ``cost`` [s/m]; ``inf`` if it leaves the map.

    The robot's own cell at ``a`` is not charged when blocked (it may leave it).
    """
    g = route_map.geometry
    length = math.dist(a, b)
    k = max(1, int(math.ceil(length / (0.25 * g.resolution_m))))
    s = (np.arange(k) + 0.5) / k
    ix = np.floor((a[0] + s * (b[0] - a[0]) - g.origin_xy_m[0]) / g.resolution_m).astype(int)
    iy = np.floor((a[1] + s * (b[1] - a[1]) - g.origin_xy_m[1]) / g.resolution_m).astype(int)
    if ix.min() < 0 or iy.min() < 0 or ix.max() >= g.cells or iy.max() >= g.cells:
        return math.inf
    values = cost[iy, ix]
    start = route_map.cell_of(*a)
    if start is not None:
        values = np.where((ix == start[0]) & (iy == start[1]) & ~np.isfinite(values), 0.0,
                          values)
    return float(np.sum(values)) * length / k


#: Points ahead a shortcut may skip to (bounds the string pulling to O(window x points)).
_SHORTCUT_WINDOW = 40


def _shortcut(points: list, along_s: list, route_map: RouteMap, cost: np.ndarray) -> list:
    """String-pull the cell path: skip points while the straight line is no dearer.

    A shortcut from point i to point j is taken when the straight segment costs no more
    than the path it replaces (``along_s``: the A* cost [s] at each point), so it never
    cuts through worse ground, nor past a blocked cell. Shortcuts reach at most
    ``_SHORTCUT_WINDOW`` points ahead.
    """
    out = [points[0]]
    i = 0
    n = len(points)
    while i < n - 1:
        best = i + 1
        for j in range(min(n - 1, i + _SHORTCUT_WINDOW), i + 1, -1):
            if _line_cost(points[i], points[j], route_map, cost) <= along_s[j] - along_s[i] + 1e-9:
                best = j
                break
        out.append(points[best])
        i = best
    return out


def _simplify(points: list) -> list:
    """Drop interior points that lie on the straight line through their neighbours."""
    if len(points) <= 2:
        return points
    out = [points[0]]
    for i in range(1, len(points) - 1):
        ax, ay = out[-1]
        bx, by = points[i]
        cx, cy = points[i + 1]
        cross = (bx - ax) * (cy - by) - (by - ay) * (cx - bx)
        if abs(cross) > 1e-9:
            out.append(points[i])
    out.append(points[-1])
    return out


def route_blocked(route: Route, route_map: RouteMap, cost: np.ndarray,
                  from_index: int = 0, step_m: float | None = None) -> bool:
    """Whether the route from segment ``from_index`` on crosses a blocked cell now.

    The first point (the robot's own cell at planning time) is not checked.
    """
    step = step_m or 0.5 * route_map.geometry.resolution_m
    pts = route.points_m
    start_cell = route_map.cell_of(*pts[0])
    for a, b in zip(pts[from_index:], pts[from_index + 1:]):
        length = math.dist(a, b)
        k = max(1, int(math.ceil(length / step)))
        for i in range(k + 1):
            s = i / k
            cell = route_map.cell_of(a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1]))
            if cell is None or cell == start_cell:
                continue
            if not math.isfinite(cost[cell[1], cell[0]]):
                return True
    return False
