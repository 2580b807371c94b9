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

Ranging (seed 000, Jinan-1: two-way time of flight over the comm link).  The node subscribes to
``ephemeris`` (``qsat_pat/EphemerisState``, latched; remap it to the terminal's ephemeris topic) as
the simulated channel's geometry truth: ``range_m`` and ``range_rate_mps`` at the message stamp
(a stamp of zero means "now", the receive time), extrapolated linearly
(:func:`~qsat_pat.core.modem.ranging.linear_range_fn`) while it is younger than
``geometry_max_age_s``.  Every frame sent while geometry is known and delivered with a good CRC
gives one two-way measurement: its marker (first preamble chip, sent at the chunk time plus
its frame period offset) is time-tagged at both ends by
:func:`~qsat_pat.core.modem.ranging.simulate_time_tags` (light-time flight up and down with the
range moving during the flight, far-end turnaround ``far_hold_s``, far clock offset
``far_clock_offset_s``, Gaussian jitter ``timing_jitter_ps`` RMS per tag).  Once per stats
interval the tags go to :func:`~qsat_pat.core.modem.ranging.estimate_range` (a function of the four
tag arrays only: a hardware modem feeds it its TDC tags instead) and the normal point -- range
extrapolated to the ModemStats stamp, range rate, far clock offset -- is published with
``range_valid = true``.  Without (fresh) geometry, or with fewer than ``min_ranging_markers``
measurements in the interval, ``range_valid`` is false (range fields 0) and the reason is counted
on /diagnostics (``range_invalid_no_geometry``, ``range_invalid_too_few_markers``).  Ephemeris
messages with a non-finite or non-positive range or a non-finite or superluminal range rate are
rejected (``rejected_bad_geometry``) and the previous geometry stays until it ages out.  A
measurement is assigned to the interval in which its frame was sent.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import sys
from dataclasses import dataclass

import numpy as np
from std_msgs.msg import UInt8MultiArray

from qsat_pat.core.errors import LinkError
from qsat_pat.core.modem.channel import DetectorConfig, flip_packed_bits, transmit_chips
from qsat_pat.core.modem.framing import (
    PERIOD_OCTETS,
    FrameConfig,
    FrameDecoder,
    ModemCounters,
    count_bit_errors,
    encode_frames,
    stats_between,
)
from qsat_pat.core.modem.ranging import (
    RangeEstimate,
    RangingConfig,
    estimate_range,
    linear_range_fn,
    simulate_time_tags,
)
from qsat_pat.core.params import ConfigBase, param
from qsat_pat.msg import EphemerisState, ModemStats
from qsat_pat.nodes.convert import modem_stats_to_msg
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
    timing_jitter_ps: float = param(1000.0, "RMS jitter of each ranging time tag (simulated TDC)", unit="ps",
                                    min_value=0.0, max_value=1e9)
    far_clock_offset_s: float = param(0.0, "far-terminal clock minus this terminal's clock (simulated)", unit="s",
                                      min_value=-1e3, max_value=1e3)
    far_hold_s: float = param(1e-6, "far-terminal delay between receiving a marker and sending its own",
                              unit="s", min_value=0.0, max_value=1.0)
    geometry_max_age_s: float = param(5.0, "ephemeris geometry older than this is not used for ranging",
                                      unit="s", min_value=0.0, max_value=3600.0)
    min_ranging_markers: int = param(3, "two-way measurements needed for a normal point",
                                     min_value=3, max_value=10**9)

    @property
    def ranging_config(self) -> RangingConfig:
        """The core ranging parameters (jitter and far-end hold) of this node."""
        return RangingConfig(line_rate_bps=self.line_rate_bps, jitter_s=self.timing_jitter_ps * 1e-12,
                             hold_s=self.far_hold_s)


@dataclass(frozen=True)
class Geometry:
    """Channel geometry truth from one EphemerisState: range and range rate at ``stamp_ns``."""

    range_m: float
    range_rate_mps: float
    stamp_ns: int


def geometry_from_msg(msg: EphemerisState, receive_ns: int) -> Geometry:
    """``qsat_pat/EphemerisState`` -> :class:`Geometry` (a zero stamp means ``receive_ns``).

    Raises
    ------
    LinkError
        Non-finite or non-positive range, non-finite or superluminal range rate.
    """
    stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
    linear_range_fn(msg.range_m, msg.range_rate_mps)          # validates
    return Geometry(float(msg.range_m), float(msg.range_rate_mps), stamp_ns or receive_ns)


class OpticalModemNode(QsatPatNode):
    """Frames, transmits (simulated), decodes and reports (see the module docstring)."""

    config_class = OpticalModemConfig
    default_name = "optical_modem"

    def on_setup(self) -> None:
        self.geometry: Geometry | None = None
        self.last_range: RangeEstimate | None = None
        self._build()
        self.rx_pub = self.create_lifecycle_publisher(UInt8MultiArray, "modem/rx", Qos.STREAM)
        self.stats_pub = self.create_lifecycle_publisher(ModemStats, "modem/stats", Qos.STREAM)
        self.tx_sub = self.create_subscription(UInt8MultiArray, "modem/tx", self.on_tx, Qos.STREAM)
        self.ephemeris_sub = self.create_subscription(EphemerisState, "ephemeris", self.on_ephemeris, Qos.STATE)
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
        self.ranging_config = cfg.ranging_config
        self.ranging_rng = np.random.default_rng([cfg.rng_seed, 1])
        self.frame_period_ns = PERIOD_OCTETS * 8 / cfg.line_rate_bps * 1e9
        self.tx_time_ns: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._last_stats_ns = self.get_clock().now().nanoseconds
        self._tags: list[tuple[np.ndarray, ...]] = []

    def on_teardown(self) -> None:
        for attr, destroy in (("tx_sub", self.destroy_subscription), ("ephemeris_sub", self.destroy_subscription),
                              ("stats_timer", self.destroy_timer)):
            obj = getattr(self, attr, None)
            if obj is not None:
                destroy(obj)
                setattr(self, attr, None)

    # ------------------------------------------------------------------ geometry (ranging truth)
    def on_ephemeris(self, msg: EphemerisState) -> None:
        try:
            self.geometry = geometry_from_msg(msg, self.get_clock().now().nanoseconds)
        except LinkError as exc:
            self.reject("bad_geometry", f"ephemeris geometry refused: {exc}")
            return
        self.count("geometry_updates")

    def _fresh_geometry(self, t_ns: int) -> Geometry | None:
        g = self.geometry
        if g is None or abs(t_ns - g.stamp_ns) * 1e-9 > self.config.geometry_max_age_s:
            return None
        return g

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
        sent_ns = self.get_clock().now().nanoseconds
        for k in range(n):
            self.tx_history[(first + k) % 2**32] = payloads[k]
            self.tx_time_ns[(first + k) % 2**32] = sent_ns + int(round(k * self.frame_period_ns))
        while len(self.tx_history) > TX_HISTORY_FRAMES:
            self.tx_history.popitem(last=False)
        while len(self.tx_time_ns) > TX_HISTORY_FRAMES:
            self.tx_time_ns.popitem(last=False)
        chips = encode_frames(payloads, first, self.frame_config)
        out = self.decoder.feed(self._channel(chips))
        self.count("frames_sent", n)
        self._account(out)
        self._time_tag(out, sent_ns)

    def _time_tag(self, out, sent_ns: int) -> None:
        """Simulated two-way time tags of the markers of the frames delivered with a good CRC."""
        serials = [s for s in out.serial[out.crc_ok].tolist() if s in self.tx_time_ns]
        if not serials:
            return
        geometry = self._fresh_geometry(sent_ns)
        if geometry is None:
            self.count("ranging_markers_without_geometry", len(serials))
            return
        epoch_ns = self._last_stats_ns
        t_g_tx = np.array([(self.tx_time_ns.pop(s) - epoch_ns) * 1e-9 for s in serials])
        range_fn = linear_range_fn(geometry.range_m, geometry.range_rate_mps, (geometry.stamp_ns - epoch_ns) * 1e-9)
        tags, _ = simulate_time_tags(self.ranging_config, t_g_tx, range_fn, self.config.far_clock_offset_s,
                                     self.ranging_rng)
        self._tags.append(tags)
        self.count("ranging_markers", len(serials))

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
    def _normal_point(self, now_ns: int) -> RangeEstimate | None:
        """The interval's ranging normal point at ``now_ns``, or None (reason counted)."""
        tags, self._tags = self._tags, []
        n = sum(t[0].size for t in tags)
        if n == 0 and self._fresh_geometry(now_ns) is None:
            self.count("range_invalid_no_geometry")
            return None
        if n < self.config.min_ranging_markers:
            self.count("range_invalid_too_few_markers")
            return None
        arrays = [np.concatenate([t[i] for t in tags]) for i in range(4)]
        try:
            estimate = estimate_range(*arrays, t_eval_s=(now_ns - self._last_stats_ns) * 1e-9)
        except LinkError as exc:
            self.count("range_invalid_estimator")
            self.get_logger().warning(f"ranging normal point failed: {exc}", throttle_duration_sec=2.0)
            return None
        self.count("range_normal_points")
        return estimate

    def publish_stats(self) -> None:
        if not self.active:
            return
        now_time = self.get_clock().now()
        now_ns = now_time.nanoseconds
        interval = (now_ns - self._last_stats_ns) * 1e-9
        if interval <= 0.0:
            return
        current = dataclasses.replace(self.decoder.counters)
        errs = self.bit_errors - self._last_errors[0]
        checked = self.bits_checked - self._last_errors[1]
        report = stats_between(self._last_counters, current, interval, self.config.line_rate_bps,
                               self.frame_config.payload_capacity, self.config.link_id, errs, checked)
        estimate = self._normal_point(now_ns)
        self.last_range = estimate
        self.stats_pub.publish(modem_stats_to_msg(report, now_time.to_msg(), estimate))
        self._last_counters = current
        self._last_errors = (self.bit_errors, self.bits_checked)
        self._last_stats_ns = now_ns

    def diagnostic_values(self) -> dict:
        c = self.decoder.counters if hasattr(self, "decoder") else ModemCounters()
        values = {"frames_good": c.frames_good, "frame_errors": c.frame_errors, "frames_lost": c.frames_lost,
                  "resyncs": c.resyncs, "range_valid": getattr(self, "last_range", None) is not None}
        r = getattr(self, "last_range", None)
        if r is not None:
            values.update(range_m=f"{r.range_m:.4f}", range_sigma_m=f"{r.sigma_range_m:.2e}",
                          range_rate_mps=f"{r.range_rate_mps:.4f}", range_markers=r.n_markers)
        return values


NODE_CLASS = OpticalModemNode
main = make_main(OpticalModemNode)

if __name__ == "__main__":
    sys.exit(main())
