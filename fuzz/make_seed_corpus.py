#!/usr/bin/env python3
"""Writes fuzz/corpus/: each valid message fixture as a framed stream (one seed per fixture,
plus seeds with garbage and a truncated frame in front). Byte 0 of a seed is the fuzzer's
config byte (chunk size / maximum payload). Rerun when tests/data/messages/valid changes."""
import pathlib, struct

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "fuzz" / "corpus"
out.mkdir(exist_ok=True)

def frame(payload: bytes) -> bytes:
    return b"\xffPK\x01" + struct.pack(">I", len(payload)) + payload

for i, path in enumerate(sorted((root / "tests/data/messages/valid").glob("*.json"))):
    payload = path.read_bytes().strip()
    config = bytes([i % 16])
    (out / f"{path.stem}.bin").write_bytes(config + frame(payload))
    stale = frame(payload)[: 8 + len(payload) // 2]
    (out / f"{path.stem}-after-garbage.bin").write_bytes(
        config + b"console noise\xffP" + stale + frame(payload))
