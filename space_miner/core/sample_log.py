# SPDX-License-Identifier: Apache-2.0
"""The sample log: every sampling attempt on record, in a file that survives a crash.

JSON lines, one :class:`SampleRecord` per line. Each append is a single ``write`` of the
whole line on an ``O_APPEND`` descriptor under an exclusive ``flock``, followed by
``fsync``; a newly created file or directory has its directory ``fsync``'d too, so the
entry itself is durable. A file that changed since this object last saw it (another writer,
a failed write) is reloaded before the append, so ids stay unique.

A crash mid-append can leave at most one torn last line (no newline, or not valid JSON).
Loading detects it, never raises for it, keeps every complete record before it, copies the
refused bytes to ``<name>.rejected`` for forensics, and rewrites the file without them
atomically (temporary file in the same directory, ``fsync``, ``os.replace``, ``fsync`` of the
directory). Ids continue from the highest id on record, so a restart never reuses one.
"""

from dataclasses import asdict, dataclass
import fcntl
import json
import math
import os
from pathlib import Path
import tempfile
import threading
from typing import Any, Mapping

from space_miner.core.sampling import AttemptResult


@dataclass(frozen=True)
class SampleRecord:
    """One attempt on record.

    ``time_s`` is the clock time [s] the attempt ended (sim time in simulation);
    ``site_xy_m`` [m] the site; ``mass_g`` the container's mass at the end [g];
    ``collected_g`` what the attempt added [g]; ``depth_m`` the deepest the bit went below
    contact [m]; ``duration_s`` [s]; ``outcome`` one of ``success``, ``failed``,
    ``aborted``, ``rejected``; ``reason`` why, in words; ``cause`` the
    :class:`~space_miner.core.sampling.AbortCause` value (empty on success).
    """

    id: int
    time_s: float
    site_xy_m: tuple
    terrain_kind: str
    mass_g: float
    depth_m: float
    duration_s: float
    outcome: str
    collected_g: float = 0.0
    attempt: int = 0
    reason: str = ''
    cause: str = ''

    def to_json(self) -> str:
        """Return the record as one line of JSON (no newline); non-finite numbers as null."""
        data = asdict(self)
        data['site_xy_m'] = [_json_number(v) for v in self.site_xy_m]
        for key in ('time_s', 'mass_g', 'depth_m', 'duration_s', 'collected_g'):
            data[key] = _json_number(data[key])
        return json.dumps(data, allow_nan=False, sort_keys=True, separators=(',', ':'))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> 'SampleRecord':
        """Build a record from a parsed JSON object; ``ValueError`` if it is not one."""
        if not isinstance(data, Mapping):
            raise ValueError('not a JSON object')
        try:
            rid = data['id']
            if isinstance(rid, bool) or not isinstance(rid, int) or rid < 1:
                raise ValueError(f'id {rid!r} is not a positive integer')
            site = data['site_xy_m']
            if not isinstance(site, list) or len(site) != 2:
                raise ValueError(f'site_xy_m {site!r} is not two numbers')
            return cls(
                id=rid, time_s=_number(data['time_s']),
                site_xy_m=(_number(site[0]), _number(site[1])),
                terrain_kind=str(data['terrain_kind']), mass_g=_number(data['mass_g']),
                depth_m=_number(data['depth_m']), duration_s=_number(data['duration_s']),
                outcome=str(data['outcome']),
                collected_g=_number(data.get('collected_g', 0.0)),
                attempt=int(data.get('attempt', 0)), reason=str(data.get('reason', '')),
                cause=str(data.get('cause', '')))
        except KeyError as err:
            raise ValueError(f'missing field {err}') from None


def _json_number(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{value!r} is not a number')
    return float(value)


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries to disk (new, renamed or removed files in it)."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace the file at ``path`` with ``data`` atomically and durably.

    Writes a temporary file in the same directory, ``fsync``s it, ``os.replace``s it over
    ``path`` and ``fsync``s the directory: a crash leaves either the old or the new file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=str(path.parent))
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def _make_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents, ``fsync``ing each parent entry."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for entry in reversed(missing):
        try:
            entry.mkdir()
        except FileExistsError:
            pass
        fsync_dir(entry.parent)


class SampleLog:
    """The append-only sample log at ``path`` (JSON lines), loaded on construction.

    ``records`` holds every complete record on file; ``warnings`` what loading refused
    (a torn last line, a corrupt line), in words; ``next_id`` the id the next append gets.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.warnings: list = []
        self._records: list = []
        self._next_id = 1
        self._needs_repair = False
        self._size_bytes = 0
        self._lock = threading.Lock()
        _make_dirs(self.path.parent)
        self._load()

    @property
    def records(self) -> tuple:
        """Every record on file, oldest first."""
        return tuple(self._records)

    @property
    def next_id(self) -> int:
        """Id of the next record."""
        return self._next_id

    def append(self, result: AttemptResult) -> SampleRecord:
        """Record a finished attempt: one line written, then ``fsync``'d. Returns the record."""
        with self._lock:
            fd = self._open_locked()
            record = SampleRecord(
                id=self._next_id, time_s=result.t_end_s, site_xy_m=tuple(result.site_xy_m),
                terrain_kind=result.terrain_kind, mass_g=result.mass_g,
                depth_m=result.depth_m, duration_s=result.duration_s,
                outcome=result.outcome.value, collected_g=result.collected_g,
                attempt=result.attempt, reason=result.reason,
                cause=result.cause.value if result.cause is not None else '')
            line = record.to_json().encode('utf-8') + b'\n'
            self._write_line(fd, line)
            self._records.append(record)
            self._next_id += 1
            self._size_bytes += len(line)
            return record

    # --- internals ---

    def _open_locked(self) -> int:
        """Open the file for appending under an exclusive lock, reloading it if it changed.

        The file changed when its size is not what this object last saw (another writer, or
        a partial line left by a failed write): it is reloaded (and repaired) first, so ids
        stay unique and a new line never lands after a torn one.
        """
        for _ in range(5):
            created = not self.path.exists()
            fd = os.open(str(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if created:
                    fsync_dir(self.path.parent)
                if not self._needs_repair and os.fstat(fd).st_size == self._size_bytes:
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)            # releases the lock; a repair may replace the file
            self._load()
        raise OSError(f'{self.path}: keeps changing under the sample log')

    def _write_line(self, fd: int, line: bytes) -> None:
        try:
            view = memoryview(line)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            self._needs_repair = True   # a partial line may be on file: repair before next
            raise
        finally:
            os.close(fd)

    def _load(self) -> None:
        self._records = []
        self._next_id = 1
        self._needs_repair = False
        self._size_bytes = 0
        for stale in self.path.parent.glob(f'.{self.path.name}.*.tmp'):
            stale.unlink(missing_ok=True)      # left by a crash during a rewrite
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        lines = data.split(b'\n')
        tail = lines.pop()        # after the last newline: empty unless the last line is torn
        good = []
        rejected = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                record = SampleRecord.from_mapping(json.loads(raw.decode('utf-8')))
            except (ValueError, TypeError, RecursionError) as err:
                self.warnings.append(f'{self.path}: line {number} refused ({err}); skipped')
                rejected.append(raw)
                continue
            if record.id < self._next_id:
                self.warnings.append(f'{self.path}: line {number} repeats id {record.id}')
            good.append(raw)
            self._records.append(record)
            self._next_id = max(self._next_id, record.id + 1)
        if tail:
            self.warnings.append(f'{self.path}: torn last line ({len(tail)} bytes, a crash '
                                 'mid-write) ignored')
            rejected.append(tail)
        if rejected:
            self._keep_rejected(rejected)
            atomic_write_bytes(self.path, b''.join(line + b'\n' for line in good))
        self._size_bytes = self.path.stat().st_size

    def _keep_rejected(self, chunks: list) -> None:
        side = self.path.with_name(self.path.name + '.rejected')
        created = not side.exists()
        with open(side, 'ab') as handle:
            for chunk in chunks:
                handle.write(chunk + b'\n')
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            fsync_dir(side.parent)
