"""``qsat-pat bag info BAG``: what a recorded rosbag2 bag holds (topics, types, counts, rates)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qsat_pat.core.bags import BagError


def bag_summary(path: Path) -> dict:
    """Topics of a rosbag2 bag with message type, count, and mean rate over the bag.

    Raises
    ------
    BagError
        If ``path`` is not a readable rosbag2 bag.
    """
    from rosbags.highlevel import AnyReader, AnyReaderError

    if not (path / "metadata.yaml").is_file():
        raise BagError(f"{path} is not a rosbag2 bag (no metadata.yaml)")
    try:
        with AnyReader([path]) as reader:
            duration_s = (reader.end_time - reader.start_time) * 1e-9 if reader.message_count else 0.0
            topics = {}
            for c in sorted(reader.connections, key=lambda c: c.topic):
                t = topics.setdefault(c.topic, {"type": c.msgtype, "count": 0})
                t["count"] += c.msgcount
            for t in topics.values():
                t["rate_hz"] = round(t["count"] / duration_s, 3) if duration_s > 0 else None
            return {"bag": str(path), "duration_s": round(duration_s, 3), "messages": reader.message_count,
                    "topics": topics}
    except AnyReaderError as exc:
        raise BagError(f"cannot read bag {path}: {exc}") from exc


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bag", help="recorded rosbag2 bags")
    bag_sub = p.add_subparsers(dest="bag_command", metavar="BAG_COMMAND")
    bag_sub.required = True
    info = bag_sub.add_parser("info", help="topics, types, message counts and rates of a bag")
    info.add_argument("bag", type=Path, help="bag directory (holds metadata.yaml)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_info)


def _info(args: argparse.Namespace) -> int:
    summary = bag_summary(args.bag)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"bag {summary['bag']}: {summary['messages']} messages over {summary['duration_s']} s")
    for topic, t in summary["topics"].items():
        rate = f"{t['rate_hz']:9.2f} Hz" if t["rate_hz"] is not None else "        - "
        print(f"  {topic:45s} {t['count']:8d} msgs {rate}  {t['type']}")
    return 0
