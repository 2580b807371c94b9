"""Optical modem core: Vector framing, Manchester/PPM line codes, RS FEC, detector channel,
two-way ranging and clock synchronisation (ROS-free).

References
----------
seed 003 (Vector) §2.5, §4, App. A; seed 001 (NanoBob) §3, §4.4, §4.6; seed 000 (Jinan-1).
"""

from qsat_pat.core.modem.framing import (
    PERIOD_CHIPS,
    PERIOD_OCTETS,
    DecodedFrames,
    FrameConfig,
    FrameDecoder,
    ModemCounters,
    ModemStatsReport,
    build_packets,
    count_bit_errors,
    crc16,
    encode_frames,
    stats_between,
)
from qsat_pat.core.modem.linecode import manchester_decode, manchester_encode, ppm_decode, ppm_encode

__all__ = [
    "PERIOD_CHIPS",
    "PERIOD_OCTETS",
    "DecodedFrames",
    "FrameConfig",
    "FrameDecoder",
    "ModemCounters",
    "ModemStatsReport",
    "build_packets",
    "count_bit_errors",
    "crc16",
    "encode_frames",
    "manchester_decode",
    "manchester_encode",
    "ppm_decode",
    "ppm_encode",
    "stats_between",
]
