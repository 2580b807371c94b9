"""Vector frame format, encoder and a resynchronising streaming decoder.

Frame (seed 003 §2.5), 335 octets + 12-octet inter-packet gap = 347 octets per period::

    | preamble 8 | serial 4 (big-endian) | payload 321 | CRC-16 2 | gap 12 |

*CRC choice.*  Vector does not name its CRC-16.  We use CRC-16/CCITT-FALSE (polynomial
0x1021, init 0xFFFF, no reflection, no final XOR; check value 0x29B1 for "123456789"), via
``crcmod`` ("crc-ccitt-false"), because it is the Frame Error Control Field of the CCSDS
telemetry/telecommand space data link protocols (CCSDS 132.0-B, 232.0-B), i.e. the usual choice
for a space link.  Its generator ``(x+1)(x^15+x^14+x^13+x^12+x^4+x^3+x^2+x+1)`` has the factor
``x+1`` (all odd-weight errors detected) and a primitive degree-15 factor (period 32767), so all
double-bit errors within 32767 bits are detected; the CRC covers serial + payload + CRC =
2616 bits, hence every single- and double-bit error of a frame is caught (Hamming distance 4).

*Preamble.*  Vector does not publish its preamble; we use the 64-bit CCSDS attached sync
marker 0x034776C7272895B0 (CCSDS 131.0-B), chosen for its low autocorrelation sidelobes.

*Decoder.*  Frames are located by correlating the received chips with the Manchester chips of
the preamble (<= ``preamble_max_chip_errors`` mismatches of 128).  Once locked, all following
frame periods are checked in one vectorised pass; at the first period whose preamble fails
(bit slip, burst, dropout) the decoder searches again (resync).  Frames with a bad CRC are
counted (``frame_errors``) and dropped; missing serial numbers are counted as ``frames_lost``.

References
----------
seed 003 (Vector) §2.5; seed 000 (Jinan-1) for the 156.25 Mbit/s line rate.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import crcmod.predefined
import numpy as np

from qsat_pat.core.errors import ConfigError, ModemError
from qsat_pat.core.modem.fec import PayloadFec
from qsat_pat.core.modem.linecode import (
    POPCOUNT8,
    as_bytes_array,
    manchester_decode,
    manchester_encode,
    shift_left_bits,
)
from qsat_pat.core.params import ConfigBase, param

PREAMBLE_OCTETS = 8
SERIAL_OCTETS = 4
PAYLOAD_OCTETS = 321
CRC_OCTETS = 2
GAP_OCTETS = 12
PACKET_OCTETS = PREAMBLE_OCTETS + SERIAL_OCTETS + PAYLOAD_OCTETS + CRC_OCTETS  # 335
PERIOD_OCTETS = PACKET_OCTETS + GAP_OCTETS  # 347
#: Chips per frame period with Manchester coding (2 chips per bit).
PERIOD_CHIPS = PERIOD_OCTETS * 16
#: CRC-16/CCITT-FALSE (see module docstring).
crc16 = crcmod.predefined.mkPredefinedCrcFun("crc-ccitt-false")



def crc16_rows(rows: np.ndarray) -> np.ndarray:
    """CRC-16/CCITT-FALSE of every row of a 2-D uint8 array -> (n,) uint16 (crcmod C routine per row)."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    if rows.ndim != 2:
        raise ModemError("crc16_rows needs a 2-D array of octets")
    return np.fromiter((crc16(r.tobytes()) for r in rows), dtype=np.uint16, count=rows.shape[0])


_SERIAL_SLICE = slice(PREAMBLE_OCTETS, PREAMBLE_OCTETS + SERIAL_OCTETS)
_PAYLOAD_SLICE = slice(_SERIAL_SLICE.stop, _SERIAL_SLICE.stop + PAYLOAD_OCTETS)
_CRC_SLICE = slice(_PAYLOAD_SLICE.stop, _PAYLOAD_SLICE.stop + CRC_OCTETS)


@dataclass(frozen=True)
class FrameConfig(ConfigBase):
    """Modem framing parameters (Vector format, seed 003 §2.5)."""

    preamble_hex: str = param("034776C7272895B0", "8-octet preamble (hex), CCSDS 64-bit ASM")
    preamble_max_chip_errors: int = param(10, "chip mismatches tolerated in the 128-chip preamble",
                                          min_value=0, max_value=40)
    fec_nsym: int = param(0, "Reed-Solomon parity octets per 255-octet block (0 = no FEC)",
                          min_value=0, max_value=64)
    gap_octet: int = param(0, "octet value sent in the inter-packet gap", min_value=0, max_value=255)
    line_rate_bps: float = param(50e6, "data bit rate on the line (Vector 50 Mbit/s; Jinan-1 156.25 Mbit/s)",
                                 unit="bit/s", min_value=1.0, max_value=1e11)

    def check(self) -> None:
        try:
            raw = bytes.fromhex(self.preamble_hex)
        except ValueError:
            raw = b""
        if len(raw) != PREAMBLE_OCTETS:
            raise ConfigError(f"FrameConfig.preamble_hex must be {PREAMBLE_OCTETS} octets of hex, "
                              f"got {self.preamble_hex!r}")
        if self.fec_nsym:
            PayloadFec(PAYLOAD_OCTETS, self.fec_nsym)

    @property
    def preamble(self) -> np.ndarray:
        """Preamble octets as a uint8 array."""
        return np.frombuffer(bytes.fromhex(self.preamble_hex), dtype=np.uint8)

    @property
    def payload_capacity(self) -> int:
        """User octets per frame (321, less the RS parity if FEC is on)."""
        return PayloadFec(PAYLOAD_OCTETS, self.fec_nsym).capacity if self.fec_nsym else PAYLOAD_OCTETS


def _payload_matrix(payloads, capacity: int) -> np.ndarray:
    """List of byte strings (each <= capacity) or an (n, capacity) array -> zero-padded matrix."""
    if isinstance(payloads, np.ndarray) and payloads.ndim == 2:
        if payloads.shape[1] > capacity:
            raise ModemError(f"payload of {payloads.shape[1]} octets exceeds the frame capacity "
                             f"of {capacity} octets; split it over several frames")
        mat = np.zeros((payloads.shape[0], capacity), dtype=np.uint8)
        mat[:, : payloads.shape[1]] = as_bytes_array(payloads)
        return mat
    if isinstance(payloads, (bytes, bytearray)):
        payloads = [payloads]
    rows = [as_bytes_array(p) for p in payloads]
    mat = np.zeros((len(rows), capacity), dtype=np.uint8)
    for i, row in enumerate(rows):
        if row.size > capacity:
            raise ModemError(f"payload {i} has {row.size} octets, more than the frame capacity of "
                             f"{capacity} octets; split it over several frames")
        mat[i, : row.size] = row
    return mat


def build_packets(payloads, first_serial: int = 0, config: FrameConfig | None = None) -> np.ndarray:
    """Frame payloads into ``(n, 347)`` octet periods (packet + gap), before line coding.

    Parameters
    ----------
    payloads : sequence of bytes, or (n, k) uint8 array with k <= capacity
        One payload per frame; shorter payloads are zero-padded.
    first_serial : int
        Serial number of the first frame (wraps modulo 2**32).

    Raises
    ------
    ModemError
        A payload is larger than the frame capacity.
    """
    cfg = config or FrameConfig()
    data = _payload_matrix(payloads, cfg.payload_capacity)
    if cfg.fec_nsym:
        data = PayloadFec(PAYLOAD_OCTETS, cfg.fec_nsym).encode(data)
    n = data.shape[0]
    out = np.empty((n, PERIOD_OCTETS), dtype=np.uint8)
    out[:, :PREAMBLE_OCTETS] = cfg.preamble
    serial = (np.arange(n, dtype=np.uint64) + np.uint64(int(first_serial) % 2**32)) % np.uint64(2**32)
    out[:, _SERIAL_SLICE] = serial.astype(">u4").view(np.uint8).reshape(n, 4)
    out[:, _PAYLOAD_SLICE] = data
    out[:, _CRC_SLICE] = crc16_rows(out[:, _SERIAL_SLICE.start:_PAYLOAD_SLICE.stop]).astype(">u2").view(
        np.uint8).reshape(n, 2)
    out[:, PACKET_OCTETS:] = cfg.gap_octet
    return out


def encode_frames(payloads, first_serial: int = 0, config: FrameConfig | None = None) -> np.ndarray:
    """Frame and Manchester-encode payloads into a packed chip stream (694 chip octets per frame)."""
    return manchester_encode(build_packets(payloads, first_serial, config)).ravel()


@dataclass
class ModemCounters:
    """Running modem statistics (the counting part of ``qsat_pat/ModemStats``)."""

    chips_received: int = 0
    frames_received: int = 0
    frame_errors: int = 0
    frames_lost: int = 0
    frames_good: int = 0
    payload_bits_good: int = 0
    code_violations: int = 0
    resyncs: int = 0

    @property
    def frames_expected(self) -> int:
        """Frames the sender must have sent: good + CRC-failed + lost."""
        return self.frames_good + self.frame_errors + self.frames_lost

    @property
    def frame_error_rate(self) -> float:
        """``(frame_errors + frames_lost) / frames_expected`` (NaN if nothing expected)."""
        exp = self.frames_expected
        return (self.frame_errors + self.frames_lost) / exp if exp else float("nan")

    def as_dict(self) -> dict[str, float]:
        """Counters plus the derived rates."""
        out = dataclasses.asdict(self)
        out["frames_expected"] = self.frames_expected
        out["frame_error_rate"] = self.frame_error_rate
        return out


@dataclass(frozen=True)
class DecodedFrames:
    """Frames decoded from one call of :meth:`FrameDecoder.feed`.

    ``start_chip`` is the absolute chip index (since the decoder was created) of each frame's
    first preamble chip: multiply by the chip period to time-tag the frame marker (ranging).
    """

    serial: np.ndarray          # (n,) uint32
    payload: np.ndarray         # (n, capacity) uint8 (FEC-corrected if FEC is on)
    crc_ok: np.ndarray          # (n,) bool
    start_chip: np.ndarray      # (n,) int64

    @property
    def good_payloads(self) -> np.ndarray:
        """Payloads of the frames whose CRC is good, in order."""
        return self.payload[self.crc_ok]


class FrameDecoder:
    """Streaming decoder: feed packed chip bytes, get frames; never raises on bad data.

    Parameters
    ----------
    config : FrameConfig, optional
        Framing parameters (must match the sender's).
    """

    def __init__(self, config: FrameConfig | None = None) -> None:
        self.config = config or FrameConfig()
        self.counters = ModemCounters()
        self._fec = PayloadFec(PAYLOAD_OCTETS, self.config.fec_nsym) if self.config.fec_nsym else None
        pre_chips = np.unpackbits(manchester_encode(self.config.preamble))
        self._pre_chip_bytes = manchester_encode(self.config.preamble)
        self._pre_pm = pre_chips.astype(np.float64) * 2.0 - 1.0  # +-1 template, 128 chips
        self._buf = np.zeros(0, dtype=np.uint8)
        self._buf_chip0 = 0         # absolute chip index of self._buf[0] bit 7
        self._pos = 0               # chip index (relative to the buffer) where decoding resumes
        self._locked = False        # True: a frame is expected exactly at self._pos
        self._last_serial: int | None = None
        self._bad_since_good = 0

    # ------------------------------------------------------------------ search
    def _search(self, start: int, stop: int) -> int | None:
        """First preamble position in chips [start, stop) of the buffer (relative), or None."""
        n_chips = self._buf.size * 8
        stop = min(stop, n_chips - self._pre_pm.size + 1)
        if stop <= start:
            return None
        b0 = start // 8
        b1 = min(self._buf.size, (stop + self._pre_pm.size + 7) // 8 + 1)
        bits = np.unpackbits(self._buf[b0:b1]).astype(np.float64) * 2.0 - 1.0
        off = start - b0 * 8
        seg = bits[off: off + (stop - start) + self._pre_pm.size - 1]
        if seg.size < self._pre_pm.size:
            return None
        corr = np.correlate(seg, self._pre_pm, mode="valid")
        mism = (self._pre_pm.size - corr) / 2.0
        hits = np.flatnonzero(mism <= self.config.preamble_max_chip_errors)
        if hits.size == 0:
            return None
        first = hits[0]
        window = mism[first: first + 16]
        return start + int(first + np.argmin(window))

    # ------------------------------------------------------------------ main entry
    def feed(self, chips) -> DecodedFrames:
        """Append packed chip bytes and decode every complete frame they finish.

        Parameters
        ----------
        chips : bytes or array_like of uint8
            Next packed chips of the received stream (any length, any alignment).

        Returns
        -------
        DecodedFrames
            Frames completed by this call (possibly none).  Bad frames are counted in
            :attr:`counters` and returned with ``crc_ok = False``.
        """
        new = as_bytes_array(chips).ravel()
        self.counters.chips_received += new.size * 8
        self._buf = np.concatenate([self._buf, new]) if self._buf.size else new.copy()
        serials, payloads, oks, starts = [], [], [], []
        pos = self._pos
        locked = self._locked
        n_chips = self._buf.size * 8
        while True:
            if not locked:
                hit = self._search(pos, pos + PERIOD_CHIPS)
                if hit is None:
                    nxt = pos + PERIOD_CHIPS
                    if nxt + self._pre_pm.size > n_chips:
                        # positions below n_chips - 127 are searched; resume from there
                        pos = max(pos, n_chips - self._pre_pm.size + 1)
                        break
                    pos = nxt
                    continue
                pos = hit
                locked = True
                self.counters.resyncs += 1
            n_full = (n_chips - pos) // PERIOD_CHIPS
            if n_full == 0:
                break
            b0, shift = divmod(pos, 8)
            stream = shift_left_bits(self._buf[b0:], shift)
            mat = stream[: n_full * PERIOD_CHIPS // 8].reshape(n_full, PERIOD_CHIPS // 8)
            pre = mat[:, : self._pre_chip_bytes.size] ^ self._pre_chip_bytes
            mism = POPCOUNT8[pre].sum(axis=1, dtype=np.int64)
            bad = np.flatnonzero(mism > self.config.preamble_max_chip_errors)
            n_ok = int(bad[0]) if bad.size else n_full
            if n_ok:
                s, p, ok = self._decode_rows(mat[:n_ok])
                serials.append(s)
                payloads.append(p)
                oks.append(ok)
                starts.append(self._buf_chip0 + pos + PERIOD_CHIPS * np.arange(n_ok, dtype=np.int64))
            pos += n_ok * PERIOD_CHIPS
            if bad.size:
                locked = False  # lost the preamble: search again from here
                pos = max(0, pos - 64)
                continue
            break
        # drop consumed bytes, keep the tail
        keep_from = pos // 8
        self._buf = self._buf[keep_from:].copy()
        self._buf_chip0 += keep_from * 8
        self._pos = pos - keep_from * 8
        self._locked = locked
        cap = self.config.payload_capacity
        if serials:
            return DecodedFrames(np.concatenate(serials), np.concatenate(payloads),
                                 np.concatenate(oks), np.concatenate(starts))
        return DecodedFrames(np.zeros(0, np.uint32), np.zeros((0, cap), np.uint8),
                             np.zeros(0, bool), np.zeros(0, np.int64))

    def _decode_rows(self, mat: np.ndarray):
        data, invalid = manchester_decode(mat)
        self.counters.code_violations += int(invalid[:, :PACKET_OCTETS].sum(dtype=np.int64))
        payload = data[:, _PAYLOAD_SLICE]
        if self._fec is not None:
            user, corrected, _ = self._fec.decode(payload)
            data = data.copy()
            data[:, _PAYLOAD_SLICE] = corrected
            payload = user
        else:
            payload = payload.copy()
        crc_rx = (data[:, _CRC_SLICE.start].astype(np.int64) << 8) | data[:, _CRC_SLICE.start + 1]
        crc_calc = crc16_rows(data[:, _SERIAL_SLICE.start:_PAYLOAD_SLICE.stop]).astype(np.int64)
        ok = crc_calc == crc_rx
        serial = np.ascontiguousarray(data[:, _SERIAL_SLICE]).view(">u4").ravel().astype(np.uint32)
        self._count(serial, ok, payload.shape[1])
        return serial, payload, ok

    def _count(self, serial: np.ndarray, ok: np.ndarray, capacity: int) -> None:
        c = self.counters
        n_good = int(np.count_nonzero(ok))
        c.frames_received += ok.size
        c.frame_errors += int(ok.size - n_good)
        c.frames_good += n_good
        c.payload_bits_good += n_good * capacity * 8
        if n_good == 0:
            self._bad_since_good += int(ok.size)
            return
        # lost frames: serial gaps between good frames, less the CRC-failed frames in between
        idx = np.flatnonzero(ok)
        bad_cum = np.cumsum(~ok)
        good_serial = serial[idx].astype(np.int64)
        between = np.empty(idx.size, dtype=np.int64)
        between[0] = bad_cum[idx[0]] + self._bad_since_good
        between[1:] = np.diff(bad_cum[idx])
        prev = np.empty(idx.size, dtype=np.int64)
        prev[1:] = good_serial[:-1]
        valid = np.ones(idx.size, dtype=bool)
        if self._last_serial is None:
            valid[0] = False
            prev[0] = 0
        else:
            prev[0] = self._last_serial
        gap = (good_serial - prev - 1) % 2**32
        valid &= gap < 2**31
        c.frames_lost += int(np.maximum(gap[valid] - between[valid], 0).sum())
        self._last_serial = int(good_serial[-1])
        self._bad_since_good = int(bad_cum[-1] - bad_cum[idx[-1]])


@dataclass(frozen=True)
class Throughput:
    """Software throughput of the modem (bits per second of CPU time, one core)."""

    encode_line_bps: float    # line bits (frame periods incl. preamble, CRC, gap) encoded per second
    decode_line_bps: float    # line bits decoded (sync, Manchester, CRC) per second
    encode_payload_bps: float
    decode_payload_bps: float
    frames: int
    frames_ok: int


def measure_throughput(n_frames: int, repeats: int, clock, rng: np.random.Generator,
                       config: FrameConfig | None = None) -> Throughput:
    """Time encoding and decoding of ``n_frames`` random frames (best of ``repeats``).

    Parameters
    ----------
    clock : callable
        Returns seconds (e.g. ``time.perf_counter``); passed in so core never reads a clock.
    """
    cfg = config or FrameConfig()
    if n_frames < 1 or repeats < 1:
        raise ModemError("n_frames and repeats must be >= 1")
    payloads = rng.integers(0, 256, (n_frames, cfg.payload_capacity), dtype=np.uint8)
    best_enc = best_dec = math.inf
    ok = 0
    chips = np.zeros(0, dtype=np.uint8)
    for _ in range(repeats):
        t0 = clock()
        chips = encode_frames(payloads, 0, cfg)
        best_enc = min(best_enc, clock() - t0)
    for _ in range(repeats):
        dec = FrameDecoder(cfg)
        t0 = clock()
        out = dec.feed(chips)
        best_dec = min(best_dec, clock() - t0)
        ok = int(np.count_nonzero(out.crc_ok)) if np.array_equal(out.good_payloads, payloads) else 0
    line_bits = n_frames * PERIOD_OCTETS * 8
    pay_bits = n_frames * cfg.payload_capacity * 8
    return Throughput(line_bits / best_enc, line_bits / best_dec, pay_bits / best_enc, pay_bits / best_dec,
                      n_frames, ok)


@dataclass(frozen=True)
class ModemStatsReport:
    """One reporting interval of modem statistics: the fields of ``qsat_pat/msg/ModemStats``."""

    link_id: str
    interval_s: float
    bits_received: int
    bit_errors: int
    ber: float
    frames_received: int
    frame_errors: int
    frames_lost: int
    frame_error_rate: float
    goodput_bps: float
    line_rate_bps: float
    range_valid: bool = False
    range_m: float = float("nan")
    range_rate_mps: float = float("nan")
    clock_offset_s: float = float("nan")

    def as_dict(self) -> dict:
        """Field values by name (message field names)."""
        return dataclasses.asdict(self)


def count_bit_errors(received: np.ndarray, expected: np.ndarray) -> int:
    """Bit errors between two equally shaped uint8 payload arrays (popcount of the XOR)."""
    a = as_bytes_array(received)
    b = as_bytes_array(expected)
    if a.shape != b.shape:
        raise ModemError(f"payload shapes differ: {a.shape} vs {b.shape}")
    return int(POPCOUNT8[a ^ b].sum(dtype=np.int64))


def stats_between(previous: ModemCounters, current: ModemCounters, interval_s: float, line_rate_bps: float,
                  payload_octets: int, link_id: str = "", bit_errors: int = 0, bits_checked: int = 0,
                  range_m: float | None = None, range_rate_mps: float | None = None,
                  clock_offset_s: float | None = None) -> ModemStatsReport:
    """ModemStats for the interval between two counter snapshots.

    Parameters
    ----------
    previous, current : ModemCounters
        Snapshots (``dataclasses.replace(decoder.counters)``) at the start and end of the interval.
    interval_s : float
        Interval length [s] (> 0).
    payload_octets : int
        User octets per frame (``FrameConfig.payload_capacity``).
    bit_errors, bits_checked : int
        Bit errors found on known test payloads and the bits compared (BER = errors / checked;
        NaN if nothing was checked).

    Raises
    ------
    ModemError
        Non-positive interval or counters running backwards.
    """
    if not interval_s > 0.0:
        raise ModemError(f"interval_s must be > 0, got {interval_s!r}")
    d = {k: getattr(current, k) - getattr(previous, k)
         for k in ("frames_received", "frame_errors", "frames_lost", "frames_good", "payload_bits_good")}
    if any(v < 0 for v in d.values()):
        raise ModemError("modem counters ran backwards; pass snapshots in time order")
    expected = d["frames_good"] + d["frame_errors"] + d["frames_lost"]
    fer = (d["frame_errors"] + d["frames_lost"]) / expected if expected else float("nan")
    valid = range_m is not None and bool(np.isfinite(range_m))
    return ModemStatsReport(
        link_id=link_id, interval_s=float(interval_s),
        bits_received=int(d["frames_received"] * payload_octets * 8), bit_errors=int(bit_errors),
        ber=bit_errors / bits_checked if bits_checked else float("nan"),
        frames_received=int(d["frames_received"]), frame_errors=int(d["frame_errors"]),
        frames_lost=int(d["frames_lost"]), frame_error_rate=fer,
        goodput_bps=d["payload_bits_good"] / interval_s, line_rate_bps=float(line_rate_bps),
        range_valid=valid, range_m=float(range_m) if valid else float("nan"),
        range_rate_mps=float(range_rate_mps) if (valid and range_rate_mps is not None) else float("nan"),
        clock_offset_s=float(clock_offset_s) if clock_offset_s is not None else float("nan"),
    )
