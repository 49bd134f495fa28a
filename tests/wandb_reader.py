"""Read the records of an offline W&B run file (``run-<id>.wandb``) back, for tests.

The file is a LevelDB-style log: a 7-byte header (``:W&B``, magic 0xBEE1, version), then 32 KiB blocks of
chunks (CRC32C 4 bytes, length 2, type 1: full / first / middle / last), each record a serialised
``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[pb.Record]:
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    records, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < HEADER:  # block trailer padding
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:
            continue
        if kind == FULL:
            pending = chunk
        elif kind == FIRST:
            pending = chunk
            continue
        elif kind == MIDDLE:
            pending += chunk
            continue
        elif kind == LAST:
            pending += chunk
        record = pb.Record()
        record.ParseFromString(pending)
        records.append(record)
        pending = b""
    return records


def run_file(save_dir: Path) -> Path:
    files = sorted(save_dir.glob("wandb/offline-run-*/run-*.wandb"))
    if len(files) != 1:
        raise AssertionError(f"expected one offline run under {save_dir}, found {files}")
    return files[0]


def item_key(item: object) -> str:
    return item.key or "/".join(item.nested_key)  # type: ignore[attr-defined]


def history_keys(records: list[pb.Record]) -> list[set[str]]:
    return [{item_key(i) for i in r.history.item} for r in records if r.WhichOneof("record_type") == "history"]


def config_keys(records: list[pb.Record]) -> set[str]:
    keys: set[str] = set()
    for r in records:
        kind = r.WhichOneof("record_type")
        items = r.config.update if kind == "config" else r.run.config.update if kind == "run" else []
        keys |= {item_key(i) for i in items}
    return keys
