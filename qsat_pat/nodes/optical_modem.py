"""Node ``optical_modem``: carries real bytes through the framed optical link and reports ModemStats.

Payload chunks arrive on ``modem/tx`` (``std_msgs/UInt8MultiArray``); each is split into Vector
frames (seed 003 §2.5; a 2-octet length header per frame keeps the chunk boundaries), Manchester
coded, passed through the simulated channel (detector + comparator model of
:mod:`qsat_pat.core.modem.channel`, a binary symmetric channel, or an ideal one), decoded by the
resynchronising :class:`~qsat_pat.core.modem.framing.FrameDecoder`, and the bytes of the frames
with a good CRC are published on ``modem/rx``.  A real modem plugs in behind the same
``_channel`` step.  Every ``stats_period_s`` the node publishes ``modem/stats``
(``qsat_pat/ModemStats``): payload bits, bit errors against the known transmitted payloads, frames
received / CRC-failed / lost, frame error rate, goodput.  Bad input (oversized chunks) is counted
and dropped; bad frames are counted and dropped; the link keeps running.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import sys
from dataclasses import dataclass

import numpy as np
from std_msgs.msg import UInt8MultiArray

from qsat_pat.core.modem.channel import DetectorConfig, flip_packed_bits, transmit_chips
from qsat_pat.core.modem.framing import (
    FrameConfig,
    FrameDecoder,
    ModemCounters,
    ModemStatsReport,
    count_bit_errors,
    encode_frames,
    stats_between,
)
from qsat_pat.core.params import ConfigBase, param
from qsat_pat.msg import ModemStats
from qsat_pat.nodes.pattern import Qos, QsatPatNode, make_main

LENGTH_HEADER_OCTETS = 2
#: Transmitted payloads kept for BER counting (by serial number).
TX_HISTORY_FRAMES = 4096


@dataclass(frozen=True)
class OpticalModemConfig(ConfigBase):
    """Parameters of the ``optical_modem`` node."""

    link_id: str = param("downlink", "link name reported in ModemStats")
    line_rate_bps: float = param(50e6, "data bit rate on the line (Vector 50 Mbit/s)", unit="bit/s",
                                 min_value=1e3, max_value=1e11)
    channel: str = param("detector", "simulated channel", choices=("detector", "bsc", "ideal"))
    rx_power_w: float = param(1e-6, "mean received optical power (detector channel)", unit="W",
                              min_value=0.0, max_value=1.0)
    chip_error_prob: float = param(0.0, "chip flip probability (bsc channel)", min_value=0.0, max_value=0.5)
    fec_nsym: int = param(0, "Reed-Solomon parity octets per block (0 = off)", min_value=0, max_value=64)
    stats_period_s: float = param(1.0, "ModemStats reporting period", unit="s", min_value=0.01, max_value=3600.0)
    max_chunk_octets: int = param(1 << 20, "largest payload chunk accepted on modem/tx", unit="octet",
                                  min_value=1, max_value=1 << 26)
    rng_seed: int = param(0, "seed of the simulated channel noise", min_value=0, max_value=2**31 - 1)


def report_to_msg(report: ModemStatsReport, stamp) -> ModemStats:
    """Core :class:`ModemStatsReport` -> ``qsat_pat/ModemStats``."""
    msg = ModemStats()
    msg.header.stamp = stamp
    for f in dataclasses.fields(report):
        setattr(msg, f.name, getattr(report, f.name))
    return msg


class OpticalModemNode(QsatPatNode):
    """Frames, transmits (simulated), decodes and reports (see the module docstring)."""

    config_class = OpticalModemConfig
    default_name = "optical_modem"

    def on_setup(self) -> None:
        self._build()
        self.rx_pub = self.create_lifecycle_publisher(UInt8MultiArray, "modem/rx", Qos.STREAM)
        self.stats_pub = self.create_lifecycle_publisher(ModemStats, "modem/stats", Qos.STREAM)
        self.tx_sub = self.create_subscription(UInt8MultiArray, "modem/tx", self.on_tx, Qos.STREAM)
        self.stats_timer = self.create_timer(self.config.stats_period_s, self.publish_stats)

    def _build(self) -> None:
        cfg = self.config
        self.frame_config = FrameConfig(fec_nsym=cfg.fec_nsym, line_rate_bps=cfg.line_rate_bps)
        self.detector = DetectorConfig(bit_rate_bps=cfg.line_rate_bps)
        self.decoder = FrameDecoder(self.frame_config)
        self.rng = np.random.default_rng(cfg.rng_seed)
        self.serial = 0
        self.tx_history: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self.bit_errors = 0
        self.bits_checked = 0
        self._last_counters = ModemCounters()
        self._last_errors = (0, 0)
        self._last_stats_s = self.now_s()

    def on_teardown(self) -> None:
        for attr in ("tx_sub", "stats_timer"):
            obj = getattr(self, attr, None)
            if obj is not None:
                (self.destroy_subscription if attr == "tx_sub" else self.destroy_timer)(obj)
                setattr(self, attr, None)

    def on_config_changed(self, old, new) -> None:
        if hasattr(self, "decoder"):
            self._build()

    # ------------------------------------------------------------------ data path
    def _channel(self, chips: np.ndarray) -> np.ndarray:
        cfg = self.config
        if cfg.channel == "ideal":
            return chips
        if cfg.channel == "bsc":
            return flip_packed_bits(chips, cfg.chip_error_prob, self.rng)
        rx = transmit_chips(self.detector, np.unpackbits(chips), cfg.rx_power_w, self.rng)
        return np.packbits(rx)

    def on_tx(self, msg: UInt8MultiArray) -> None:
        if not self.active:
            return
        data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
        if data.size == 0:
            self.reject("empty_chunk", "empty payload chunk on modem/tx")
            return
        if data.size > self.config.max_chunk_octets:
            self.reject("chunk_too_large", f"payload chunk of {data.size} octets exceeds max_chunk_octets = "
                                           f"{self.config.max_chunk_octets}; split it")
            return
        cap = self.frame_config.payload_capacity
        room = cap - LENGTH_HEADER_OCTETS
        n = math.ceil(data.size / room)
        payloads = np.zeros((n, cap), dtype=np.uint8)
        for k in range(n):
            part = data[k * room:(k + 1) * room]
            payloads[k, 0] = part.size >> 8
            payloads[k, 1] = part.size & 0xFF
            payloads[k, LENGTH_HEADER_OCTETS:LENGTH_HEADER_OCTETS + part.size] = part
        first = self.serial
        self.serial = (self.serial + n) % 2**32
        for k in range(n):
            self.tx_history[(first + k) % 2**32] = payloads[k]
        while len(self.tx_history) > TX_HISTORY_FRAMES:
            self.tx_history.popitem(last=False)
        chips = encode_frames(payloads, first, self.frame_config)
        out = self.decoder.feed(self._channel(chips))
        self.count("frames_sent", n)
        self._account(out)

    def _account(self, out) -> None:
        known = [i for i, s in enumerate(out.serial.tolist()) if s in self.tx_history]
        if known:
            expected = np.stack([self.tx_history[int(out.serial[i])] for i in known])
            self.bit_errors += count_bit_errors(out.payload[known], expected)
            self.bits_checked += expected.size * 8
        good = out.payload[out.crc_ok]
        if good.shape[0] == 0:
            return
        lengths = (good[:, 0].astype(np.int64) << 8) | good[:, 1]
        room = self.frame_config.payload_capacity - LENGTH_HEADER_OCTETS
        parts = [row[LENGTH_HEADER_OCTETS:LENGTH_HEADER_OCTETS + min(int(ln), room)]
                 for row, ln in zip(good, lengths)]
        msg = UInt8MultiArray()
        msg.data = np.concatenate(parts).tobytes()
        self.rx_pub.publish(msg)
        self.count("frames_delivered", int(good.shape[0]))

    # ------------------------------------------------------------------ statistics
    def publish_stats(self) -> None:
        if not self.active:
            return
        now = self.now_s()
        interval = now - self._last_stats_s
        if interval <= 0.0:
            return
        current = dataclasses.replace(self.decoder.counters)
        errs = self.bit_errors - self._last_errors[0]
        checked = self.bits_checked - self._last_errors[1]
        report = stats_between(self._last_counters, current, interval, self.config.line_rate_bps,
                               self.frame_config.payload_capacity, self.config.link_id, errs, checked)
        self.stats_pub.publish(report_to_msg(report, self.get_clock().now().to_msg()))
        self._last_counters = current
        self._last_errors = (self.bit_errors, self.bits_checked)
        self._last_stats_s = now

    def diagnostic_values(self) -> dict:
        c = self.decoder.counters if hasattr(self, "decoder") else ModemCounters()
        return {"frames_good": c.frames_good, "frame_errors": c.frame_errors, "frames_lost": c.frames_lost,
                "resyncs": c.resyncs}


NODE_CLASS = OpticalModemNode
main = make_main(OpticalModemNode)

if __name__ == "__main__":
    sys.exit(main())
