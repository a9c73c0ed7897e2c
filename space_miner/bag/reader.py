# SPDX-License-Identifier: Apache-2.0
"""Read rosbag2 bags (MCAP or sqlite3) robustly, as raw CDR records in time order.

:func:`open_bag` accepts a bag directory (with or without ``metadata.yaml``) or a single
``.mcap`` / ``.db3`` file, from ``space-miner sim`` (:mod:`space_miner.bag.recorder`) or from
``ros2 bag record``. What it guarantees:

- a bag that is whole is read with ``rosbags``' indexed reader (raw records, ≈ 400,000
  messages/s here);
- a bag cut short (the recorder or ``ros2 bag record`` killed by SIGKILL: no
  ``metadata.yaml``, no MCAP summary or footer) is read by scanning the MCAP file record by
  record, up to its last whole record; :attr:`Bag.truncated` says so and
  :attr:`Bag.warnings` says where it stopped;
- a file that is not a bag, or is corrupt, raises :class:`BagError` naming the file and
  what is wrong (never a bare traceback from the storage layer);
- a bag recorded under a robot namespace (``/r1/joint_states``, ...) reads like any other:
  :attr:`Bag.topics` and :meth:`Bag.messages` give the robot's topics by their
  root-namespace names (``/joint_states``, as interfaces.py declares them) and the global
  ``/clock``, so every tool finds them; :attr:`Bag.namespace` says which robot, and
  :meth:`Bag.recorded_name` gives a topic's name in the bag. The namespace is the one the
  recorder wrote into the run information, else the one the topic names show
  (:func:`space_miner.interfaces.namespaces_in`); a bag holding several robots needs it
  named (``namespace=``, ``--namespace``).

Reading a bag cut short by hand: ``python -m space_miner.bag.reader BAG`` lists its topics;
``python -m space_miner.bag.reader BAG --repair OUT`` writes a whole, indexed copy (with
``metadata.yaml``) for tools that need one, such as ``ros2 bag play``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import heapq
import json
from pathlib import Path
import sqlite3
import struct
import sys
from typing import Iterator

from space_miner import interfaces as itf

#: The sidecar file the recorder writes into the bag directory at start (run information).
RUN_INFO_FILE = 'space_miner_run.json'
_MCAP_MAGIC = b'\x89MCAP0\r\n'


class BagError(Exception):
    """A bag cannot be read; the message names the file and the reason."""


@dataclass(frozen=True)
class TopicInfo:
    """One topic of a bag: name, ROS type, message count, serialisation and QoS text."""

    name: str
    msgtype: str
    count: int
    serialization: str = 'cdr'
    qos: str = ''
    msgdef: str = ''


@dataclass
class Bag:
    """An opened bag: its topics, run information, warnings, and a message iterator."""

    path: Path
    storage: str                      # 'mcap' | 'sqlite3'
    topics: dict                      # name -> TopicInfo
    start_ns: int
    end_ns: int
    truncated: bool = False
    warnings: list = field(default_factory=list)
    run_info: dict = field(default_factory=dict)
    namespace: str = ''               # the robot's namespace in the bag ('' : the root)
    _recorded: dict = field(default_factory=dict)   # root name -> name in the bag
    _rosbags_path: Path | None = None
    _scan_file: Path | None = None
    _reader: object = None

    def close(self) -> None:
        """Close the storage (a closed bag reopens itself when read again)."""
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.close()
            except Exception:  # closing a damaged storage: nothing more to lose
                pass

    def __enter__(self) -> 'Bag':
        """Use the bag as a context manager."""
        return self

    def __exit__(self, *exc) -> None:
        """Close the bag."""
        self.close()

    @property
    def message_count(self) -> int:
        """Messages in the bag (those readable, for a bag cut short)."""
        return sum(t.count for t in self.topics.values())

    @property
    def duration_s(self) -> float:
        """Time from the first to the last message [s] (bag receive time)."""
        return max(0.0, (self.end_ns - self.start_ns) * 1e-9)

    def recorded_name(self, name: str) -> str:
        """Return the name in the bag of the topic :attr:`topics` calls ``name``."""
        return self._recorded.get(name, name)

    def messages(self, topics: tuple | list | set | None = None) -> Iterator[tuple]:
        """Yield ``(topic, timestamp_ns, raw_cdr_bytes)`` in timestamp order.

        ``topics`` restricts to those names (unknown names are ignored). Topic names are
        :attr:`topics`' (root-namespace names for a namespaced bag). Never raises on a
        damaged tail: reading stops at the last whole record and a warning is added.
        """
        if not self._recorded:
            yield from self._raw_messages(None if topics is None else set(topics))
            return
        root = {recorded: name for name, recorded in self._recorded.items()}
        wanted = set(root) if topics is None else \
            {self._recorded[t] for t in topics if t in self._recorded}
        for topic, stamp, data in self._raw_messages(wanted):
            yield root[topic], stamp, data

    def _raw_messages(self, wanted: set | None) -> Iterator[tuple]:
        if self._scan_file is not None:
            yield from self._scan_messages(wanted)
            return
        from rosbags.rosbag2 import Reader
        try:
            if self._reader is None:
                self._reader = Reader(self._rosbags_path)
                self._reader.open()
            reader = self._reader
            conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
            if not conns:
                return
            for conn, stamp, data in reader.messages(connections=conns):
                yield conn.topic, stamp, data
        except Exception as err:  # a damaged chunk mid-file: keep what was read
            self.truncated = True
            self.warnings.append(f'{self.path}: reading stopped early: {err}')

    def _scan_messages(self, wanted: set | None) -> Iterator[tuple]:
        scan = _McapScan(self._scan_file)
        try:
            for chunk in scan.chunks():
                rows = [(stamp, scan.channels[cid][0], data) for cid, stamp, data in chunk
                        if cid in scan.channels and
                        (wanted is None or scan.channels[cid][0] in wanted)]
                rows.sort(key=lambda r: r[0])
                for stamp, topic, data in rows:
                    yield topic, stamp, data
        finally:
            scan.close()
        if scan.stopped and scan.stopped not in self.warnings:
            self.warnings.append(scan.stopped)


# --- MCAP scanning (bags without summary or footer) --------------------------------------------

class _McapScan:
    """Read an MCAP file record by record, tolerating a missing summary and a cut tail."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.schemas: dict = {}    # id -> (name, encoding, data)
        self.channels: dict = {}   # id -> (topic, schema name, encoding, metadata bytes)
        self.stopped = ''
        try:
            self.handle = open(path, 'rb')
        except OSError as err:
            raise BagError(f'{path}: cannot open: {err.strerror}') from err
        head = self.handle.read(8)
        if head != _MCAP_MAGIC:
            self.handle.close()
            raise BagError(f'{path}: not an MCAP file (bad magic {head[:8]!r})')
        self.size = path.stat().st_size

    def close(self) -> None:
        self.handle.close()

    def chunks(self) -> Iterator[list]:
        """Yield lists of ``(channel_id, log_time_ns, data)``, one per chunk or loose run."""
        handle = self.handle
        handle.seek(8)
        loose: list = []
        while True:
            pos = handle.tell()
            head = handle.read(9)
            if len(head) == 0:
                self.stopped = f'{self.path}: file ends after byte {pos} without an MCAP footer'
                break
            if len(head) < 9:
                self.stopped = f'{self.path}: cut inside a record header at byte {pos}'
                break
            op, length = head[0], struct.unpack_from('<Q', head, 1)[0]
            if op in (0x02, 0x0F):  # footer or data end: the data section is over
                break
            if length > self.size - pos - 9:
                self.stopped = (f'{self.path}: cut inside a record (op 0x{op:02x}) at byte '
                                f'{pos}: read up to the last whole record')
                break
            body = handle.read(length)
            if op == 0x06:
                if loose:
                    yield loose
                    loose = []
                try:
                    yield self._chunk(body)
                except (BagError, ValueError, struct.error) as err:
                    self.stopped = f'{self.path}: damaged chunk at byte {pos}: {err}'
                    break
            else:
                try:
                    msg = self._record(op, body)
                except (ValueError, struct.error, UnicodeDecodeError) as err:
                    self.stopped = f'{self.path}: damaged record at byte {pos}: {err}'
                    break
                if msg is not None:
                    loose.append(msg)
        if loose:
            yield loose

    def _chunk(self, body: bytes) -> list:
        _start, _end, size, _crc = struct.unpack_from('<QQQI', body, 0)
        clen = struct.unpack_from('<I', body, 28)[0]
        compression = body[32:32 + clen].decode()
        off = 32 + clen
        dlen = struct.unpack_from('<Q', body, off)[0]
        data = body[off + 8:off + 8 + dlen]
        if len(data) != dlen:
            raise BagError('chunk data shorter than declared')
        if compression == 'zstd':
            try:
                from compression import zstd  # Python >= 3.14
            except ImportError:
                from backports import zstd
            data = zstd.decompress(data)
        elif compression == 'lz4':
            import lz4.frame
            data = lz4.frame.decompress(data)
        elif compression:
            raise BagError(f'unknown chunk compression {compression!r}')
        if len(data) != size:
            raise BagError('chunk size differs from its header')
        out = []
        pos, n = 0, len(data)
        while pos + 9 <= n:
            op, length = data[pos], struct.unpack_from('<Q', data, pos + 1)[0]
            rec = data[pos + 9:pos + 9 + length]
            pos += 9 + length
            msg = self._record(op, rec)
            if msg is not None:
                out.append(msg)
        return out

    def _record(self, op: int, rec: bytes) -> tuple | None:
        if op == 0x05:
            cid = struct.unpack_from('<H', rec, 0)[0]
            stamp = struct.unpack_from('<Q', rec, 6)[0]
            return cid, stamp, bytes(rec[22:])
        if op == 0x03:
            sid = struct.unpack_from('<H', rec, 0)[0]
            fields, pos = [], 2
            for _ in range(3):
                ln = struct.unpack_from('<I', rec, pos)[0]
                fields.append(rec[pos + 4:pos + 4 + ln].decode())
                pos += 4 + ln
            self.schemas[sid] = tuple(fields)
        elif op == 0x04:
            cid, sid = struct.unpack_from('<HH', rec, 0)
            pos, fields = 4, []
            for _ in range(2):
                ln = struct.unpack_from('<I', rec, pos)[0]
                fields.append(rec[pos + 4:pos + 4 + ln].decode())
                pos += 4 + ln
            schema = self.schemas.get(sid, ('', '', ''))
            self.channels[cid] = (fields[0], schema[0], fields[1], schema[2])
        return None


# --- opening ------------------------------------------------------------------------------

def _read_run_info(directory: Path) -> dict:
    try:
        data = json.loads((directory / RUN_INFO_FILE).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _open_with_rosbags(path: Path) -> Bag:
    from rosbags.rosbag2 import Reader
    reader = Reader(path)
    reader.open()
    try:
        topics = {}
        for conn in reader.connections:
            ext = conn.ext
            prev = topics.get(conn.topic)
            count = conn.msgcount + (prev.count if prev else 0)
            topics[conn.topic] = TopicInfo(
                conn.topic, conn.msgtype, count, getattr(ext, 'serialization_format', 'cdr'),
                str(getattr(ext, 'offered_qos_profiles', '')), conn.msgdef.data)
        storage = 'sqlite3' if (path.suffix == '.db3' or any(path.glob('*.db3'))) else 'mcap'
        start, end = reader.start_time, reader.end_time
        count = reader.message_count
        meta = getattr(getattr(reader, 'storage', None), 'metadata', None)
        custom = getattr(meta, 'custom', None) or {}
    except BaseException:
        reader.close()
        raise
    bag = Bag(path=path, storage=storage, topics=topics,
              start_ns=start if count else 0, end_ns=end if count else 0,
              _rosbags_path=path, _reader=reader)
    directory = path if path.is_dir() else path.parent
    bag.run_info = _read_run_info(directory)
    for key, value in (custom or {}).items():
        if key.startswith('space_miner.'):
            bag.run_info.setdefault(key[len('space_miner.'):], value)
    return bag


def _open_by_scan(path: Path, reason: str) -> Bag:
    scan = _McapScan(path)
    counts: dict = {}
    start, end = None, None
    try:
        for chunk in scan.chunks():
            for cid, stamp, _data in chunk:
                counts[cid] = counts.get(cid, 0) + 1
                start = stamp if start is None else min(start, stamp)
                end = stamp if end is None else max(end, stamp)
    finally:
        scan.close()
    topics = {}
    for cid, (topic, msgtype, encoding, msgdef) in scan.channels.items():
        prev = topics.get(topic)
        count = counts.get(cid, 0) + (prev.count if prev else 0)
        topics[topic] = TopicInfo(topic, msgtype, count, encoding or 'cdr', '', msgdef)
    if not topics and scan.stopped and start is None:
        raise BagError(f'{path}: no whole record could be read ({scan.stopped}; {reason})')
    bag = Bag(path=path, storage='mcap', topics=topics, start_ns=start or 0, end_ns=end or 0,
              truncated=True, _scan_file=path)
    bag.warnings.append(f'{path}: not closed cleanly ({reason}); read by scanning the '
                        'records')
    if scan.stopped:
        bag.warnings.append(scan.stopped)
    bag.run_info = _read_run_info(path.parent)
    return bag


def open_bag(path: str | Path, namespace: str | None = None) -> Bag:
    """Open the bag at ``path`` (directory, ``.mcap`` or ``.db3``); BagError if unreadable.

    ``namespace``: the robot whose topics to read (None: the recorded or inferred one; see
    the module docstring). BagError when it holds none of them, or when it holds several
    robots and none is named.
    """
    bag = _open_storage(Path(path))
    try:
        _select_namespace(bag, namespace)
    except BaseException:
        bag.close()
        raise
    return bag


def _select_namespace(bag: Bag, namespace: str | None) -> None:
    """Present the robot's topics of ``bag`` by their root-namespace names."""
    found = itf.namespaces_in(bag.topics)
    if namespace is None:
        namespace = bag.run_info.get('namespace')
    if namespace is None:
        if len(found) > 1:
            robots = ', '.join(f"{ns or '/'} ({n} topics)" for ns, n in sorted(found.items()))
            raise BagError(f'{bag.path}: topics of several robots: {robots}; name one '
                           '(--namespace)')
        namespace = next(iter(found), '')
    try:
        namespace = itf.normalize_namespace(namespace)
    except ValueError as err:
        raise BagError(f'{bag.path}: {err}') from None
    if found and namespace not in found:
        robots = ', '.join(ns or '/' for ns in sorted(found))
        raise BagError(f"{bag.path}: no topic of a robot in namespace {namespace or '/'} "
                       f'(the bag has {robots})')
    bag.namespace = namespace
    if not namespace:
        return
    topics, recorded, left_out = {}, {}, []
    for name, info in bag.topics.items():
        root = itf.root_name(name, namespace)
        if root is None:
            left_out.append(name)
            continue
        topics[root] = TopicInfo(root, info.msgtype, info.count, info.serialization,
                                 info.qos, info.msgdef)
        recorded[root] = name
    bag.topics, bag._recorded = topics, recorded
    if left_out:
        bag.warnings.append(f'{len(left_out)} topic(s) outside namespace {namespace} left '
                            f"out: {', '.join(sorted(left_out)[:5])}"
                            + (' ...' if len(left_out) > 5 else ''))


def _open_storage(path: Path) -> Bag:
    """Open the bag's storage, with the topics as recorded."""
    if not path.exists():
        raise BagError(f'{path}: no such bag (file or directory)')
    if path.is_dir():
        mcaps = sorted(path.glob('*.mcap'))
        dbs = sorted(path.glob('*.db3'))
        if not mcaps and not dbs:
            raise BagError(f'{path}: no .mcap or .db3 storage file in the bag directory')
        has_meta = (path / 'metadata.yaml').exists()
    else:
        mcaps = [path] if path.suffix == '.mcap' else []
        dbs = [path] if path.suffix == '.db3' else []
        if not mcaps and not dbs:
            raise BagError(f'{path}: not a bag: expected a directory, .mcap or .db3 file')
        has_meta = True
    first_error = ''
    if has_meta:
        try:
            return _open_with_rosbags(path)
        except Exception as err:  # any storage-layer failure becomes a reason or a fallback
            first_error = f'{type(err).__name__}: {err}'
    else:
        first_error = 'no metadata.yaml'
    if mcaps and len(mcaps) == 1:
        if path.is_dir() and has_meta is False:
            try:  # a whole MCAP file without metadata.yaml
                bag = _open_with_rosbags(mcaps[0])
                bag.path = path
                bag.warnings.append(f'{path}: no metadata.yaml; read {mcaps[0].name} directly')
                bag.run_info = bag.run_info or _read_run_info(path)
                return bag
            except Exception as err:  # cut short: scan it
                first_error = f'no metadata.yaml, and {mcaps[0].name}: {err}'
        return _open_by_scan(mcaps[0], first_error)
    if dbs and len(dbs) == 1:
        try:
            bag = _open_with_rosbags(dbs[0])
            bag.path = path
            if path.is_dir():
                bag.warnings.append(f'{path}: {first_error}; read {dbs[0].name} directly')
            return bag
        except (Exception, sqlite3.Error) as err:
            raise BagError(f'{dbs[0]}: not a readable rosbag2 sqlite3 file: {err}') from err
    raise BagError(f'{path}: cannot read the bag: {first_error}')


def repair(path: str | Path, out: str | Path, namespace: str | None = None) -> int:
    """Write the readable messages of a (possibly cut short) bag as a whole MCAP bag.

    Returns the number of messages written, on their recorded names (of the robot in
    ``namespace``, as :func:`open_bag` chooses it). Types come from the bag's own
    definitions.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_types_from_msg, get_typestore, Stores
    bag = open_bag(path, namespace)
    store = get_typestore(Stores.ROS2_JAZZY)
    for info in bag.topics.values():
        if info.msgtype not in store.types and info.msgdef:
            try:
                store.register(get_types_from_msg(info.msgdef, info.msgtype))
            except Exception:  # a definition rosbags cannot parse: keep the msgdef text
                pass
    written = 0
    with Writer(Path(out), version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for info in bag.topics.values():
            if info.msgtype in store.types:
                conns[info.name] = writer.add_connection(bag.recorded_name(info.name),
                                                         info.msgtype, typestore=store)
        for topic, stamp, data in bag.messages(list(conns)):
            writer.write(conns[topic], stamp, data)
            written += 1
    return written


def merge_time_order(*streams: Iterator[tuple]) -> Iterator[tuple]:
    """Merge ``(topic, stamp_ns, data)`` streams by timestamp."""
    return heapq.merge(*streams, key=lambda r: r[1])


def main(argv: list | None = None) -> int:
    """List a bag's topics, or repair a bag cut short (``--repair OUT``)."""
    parser = argparse.ArgumentParser(prog='python -m space_miner.bag.reader',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('bag')
    parser.add_argument('--repair', metavar='OUT', help='write a whole copy of the bag here')
    parser.add_argument('--namespace', default=None,
                        help="the robot's namespace (default: recorded, or what the topic "
                             'names show)')
    args = parser.parse_args(argv)
    try:
        if args.repair:
            n = repair(args.bag, args.repair, args.namespace)
            print(f'wrote {n} messages to {args.repair}')
            return 0
        bag = open_bag(args.bag, args.namespace)
    except BagError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'{bag.path}: {bag.storage}, {bag.message_count} messages, {bag.duration_s:.1f} s'
          + (' (cut short)' if bag.truncated else ''))
    if bag.namespace:
        print(f'robot namespace: {bag.namespace}')
    for info in sorted(bag.topics.values(), key=lambda t: t.name):
        print(f'  {bag.recorded_name(info.name):45s} {info.msgtype:40s} {info.count}')
    for text in bag.warnings:
        print(f'warning: {text}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
