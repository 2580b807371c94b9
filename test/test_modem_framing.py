"""Modem framing (seed 003 §2.5): round trip, CRC error detection, resync, frame loss, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsat_pat.core.errors import ConfigError, ModemError
from qsat_pat.core.modem import framing, linecode
from qsat_pat.core.modem.framing import (
    PERIOD_CHIPS,
    PERIOD_OCTETS,
    FrameConfig,
    FrameDecoder,
    build_packets,
    crc16,
    encode_frames,
)

COVERED_BITS = (4 + 321 + 2) * 8  # serial + payload + CRC = 2616 bits


def _shift_chips(chips: np.ndarray, lead: int, trail: int = 0, fill: int = 0) -> np.ndarray:
    bits = np.unpackbits(chips)
    bits = np.concatenate([np.full(lead, fill, np.uint8), bits, np.full(trail, fill, np.uint8)])
    pad = (-bits.size) % 8
    return np.packbits(np.concatenate([bits, np.zeros(pad, np.uint8)]))


def test_frame_layout_matches_vector():
    assert framing.PACKET_OCTETS == 335 and PERIOD_OCTETS == 347
    pk = build_packets([b"hello"], first_serial=0x01020304)
    assert pk.shape == (1, 347)
    assert bytes(pk[0, :8]) == bytes.fromhex("034776C7272895B0")
    assert bytes(pk[0, 8:12]) == b"\x01\x02\x03\x04"
    assert bytes(pk[0, 12:17]) == b"hello" and not pk[0, 17:333].any()
    assert int.from_bytes(bytes(pk[0, 333:335]), "big") == crc16(bytes(pk[0, 8:333]))
    assert not pk[0, 335:].any()


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1


def test_manchester_convention_low_to_high_is_zero():
    chips = np.unpackbits(linecode.manchester_encode(b"\x00\xff"))
    assert list(chips[:2]) == [0, 1]      # bit 0: low -> high
    assert list(chips[16:18]) == [1, 0]   # bit 1: high -> low
    data, invalid = linecode.manchester_decode(linecode.manchester_encode(bytes(range(256))))
    assert bytes(data) == bytes(range(256)) and not invalid.any()


@pytest.mark.parametrize("lead_chips", [0, 1, 5, 8, 13, 1000])
def test_random_payloads_round_trip_at_any_alignment(lead_chips):
    rng = np.random.default_rng(lead_chips)
    payloads = rng.integers(0, 256, (50, 321), dtype=np.uint8)
    stream = _shift_chips(encode_frames(payloads, first_serial=2**32 - 3), lead_chips, 11)
    dec = FrameDecoder()
    out = dec.feed(stream)
    assert np.array_equal(out.payload, payloads)
    assert out.crc_ok.all()
    assert list(out.serial[:4]) == [2**32 - 3, 2**32 - 2, 2**32 - 1, 0]
    assert np.array_equal(out.start_chip, lead_chips + PERIOD_CHIPS * np.arange(50))
    c = dec.counters
    assert (c.frames_good, c.frame_errors, c.frames_lost) == (50, 0, 0)


def test_streaming_in_odd_chunks_equals_one_shot():
    rng = np.random.default_rng(3)
    payloads = rng.integers(0, 256, (30, 321), dtype=np.uint8)
    stream = _shift_chips(encode_frames(payloads), 37, 3)
    dec = FrameDecoder()
    got, starts = [], []
    pos = 0
    for size in rng.integers(1, 3000, 200):
        out = dec.feed(stream[pos: pos + size])
        got.append(out.payload)
        starts.append(out.start_chip)
        pos += size
        if pos >= stream.size:
            break
    assert np.array_equal(np.concatenate(got), payloads)
    assert np.array_equal(np.concatenate(starts), 37 + PERIOD_CHIPS * np.arange(30))


def test_every_single_and_double_bit_error_is_caught():
    """Exhaustive via CRC linearity: all 2616 single-error syndromes are nonzero and distinct.

    A double error e_i + e_j goes undetected iff syndrome(e_i) == syndrome(e_j), so distinct nonzero
    single-error syndromes (checked through the real decoder on 2616 corrupted frames) prove that
    every single- and every double-bit error in serial, payload or CRC is caught.
    """
    rng = np.random.default_rng(11)
    payload = rng.integers(0, 256, (1, 321), dtype=np.uint8)
    base = build_packets(payload, first_serial=77)
    frames = np.repeat(base, COVERED_BITS, axis=0)
    pos = np.arange(COVERED_BITS)
    byte = 8 + pos // 8
    frames[np.arange(COVERED_BITS), byte] ^= (0x80 >> (pos % 8)).astype(np.uint8)
    out = FrameDecoder().feed(linecode.manchester_encode(frames).ravel())
    assert out.crc_ok.size == COVERED_BITS
    assert not out.crc_ok.any()                      # every single-bit error caught by the decoder
    covered = frames[:, 8:333]
    recv_crc = frames[:, 333].astype(np.int64) << 8 | frames[:, 334]
    calc = framing.crc16_rows(covered).astype(np.int64)
    syndromes = calc ^ recv_crc
    assert np.all(syndromes != 0)
    assert np.unique(syndromes).size == COVERED_BITS  # hence every double-bit error is caught too


def test_sampled_double_bit_errors_through_decoder():
    rng = np.random.default_rng(12)
    n = 400
    base = build_packets(rng.integers(0, 256, (1, 321), dtype=np.uint8))
    frames = np.repeat(base, n, axis=0)
    for k in range(n):
        i, j = rng.choice(COVERED_BITS, 2, replace=False)
        for b in (i, j):
            frames[k, 8 + b // 8] ^= np.uint8(0x80 >> (b % 8))
    out = FrameDecoder().feed(linecode.manchester_encode(frames).ravel())
    assert out.crc_ok.size == n and not out.crc_ok.any()


def test_lost_frames_and_crc_errors_are_counted():
    rng = np.random.default_rng(5)
    payloads = rng.integers(0, 256, (40, 321), dtype=np.uint8)
    chips = encode_frames(payloads).reshape(40, PERIOD_OCTETS * 2).copy()
    chips[7, 200] ^= 0x80          # first chip of a pair -> code violation and a bit error
    chips[8, 300] ^= 0xC0          # flips a whole chip pair -> valid-looking bit error
    keep = np.ones(40, bool)
    keep[[20, 21, 22]] = False     # three frames never arrive
    dec = FrameDecoder()
    out = dec.feed(chips[keep].ravel())
    c = dec.counters
    assert c.frames_lost == 3
    assert c.frame_errors == 2
    assert c.frames_good == 35
    assert c.frame_error_rate == pytest.approx(5 / 40)
    good_serials = out.serial[out.crc_ok]
    assert 20 not in good_serials and 7 not in good_serials


def test_resync_after_bit_slip_and_burst():
    rng = np.random.default_rng(6)
    payloads = rng.integers(0, 256, (30, 321), dtype=np.uint8)
    bits = np.unpackbits(encode_frames(payloads))
    # a 3-chip slip in frame 10 and a 400-chip noise burst in frame 20
    slip = 10 * PERIOD_CHIPS + 2000
    bits = np.concatenate([bits[:slip], np.array([1, 0, 1], np.uint8), bits[slip:]])
    burst = 20 * PERIOD_CHIPS + 3 + 100
    bits[burst: burst + 400] = rng.integers(0, 2, 400)
    bits = np.concatenate([bits, np.zeros((-bits.size) % 8, np.uint8)])
    dec = FrameDecoder()
    out = dec.feed(np.packbits(bits))
    good = set(out.serial[out.crc_ok].tolist())
    assert good == set(range(30)) - {10, 20}
    c = dec.counters
    assert c.frames_good == 28
    assert c.frame_errors + c.frames_lost == 2
    for s in good:
        assert np.array_equal(out.payload[out.crc_ok][list(out.serial[out.crc_ok]).index(s)], payloads[s])


def test_preamble_tolerates_a_few_chip_errors():
    payloads = np.zeros((3, 321), np.uint8)
    chips = encode_frames(payloads).reshape(3, -1).copy()
    chips[1, 0] ^= 0x81  # two chip errors in the preamble of frame 1
    out = FrameDecoder().feed(chips.ravel())
    assert out.crc_ok.sum() == 3


def test_fec_corrects_octet_errors():
    cfg = FrameConfig(fec_nsym=16)
    assert cfg.payload_capacity == 321 - 2 * 16
    rng = np.random.default_rng(8)
    payloads = rng.integers(0, 256, (5, cfg.payload_capacity), dtype=np.uint8)
    pk = build_packets(payloads, 0, cfg)
    for k in range(5):
        pk[k, 12 + rng.choice(250, 6, replace=False)] ^= 0x5A  # 6 octet errors in the first RS block
    out = FrameDecoder(cfg).feed(linecode.manchester_encode(pk).ravel())
    assert out.crc_ok.all()
    assert np.array_equal(out.payload, payloads)
    no_fec = FrameDecoder().feed(linecode.manchester_encode(pk).ravel())
    assert not no_fec.crc_ok.any()


def test_payload_too_large_raises():
    with pytest.raises(ModemError, match="capacity"):
        encode_frames([bytes(322)])
    with pytest.raises(ModemError, match="capacity"):
        encode_frames([bytes(310)], config=FrameConfig(fec_nsym=8))  # capacity 305 with FEC


def test_bad_config_rejected():
    with pytest.raises(ConfigError, match="preamble_hex"):
        FrameConfig(preamble_hex="abcd")
    with pytest.raises(ModemError):
        FrameConfig(fec_nsym=3)


def test_truncated_stream_waits_and_completes():
    payloads = np.arange(321, dtype=np.uint8)[None, :].repeat(2, 0)
    chips = encode_frames(payloads)
    dec = FrameDecoder()
    first = dec.feed(chips[: chips.size // 2 + 100])
    assert first.crc_ok.size == 1
    second = dec.feed(chips[chips.size // 2 + 100:])
    assert second.crc_ok.size == 1 and second.crc_ok.all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=3000), max_size=4))
def test_random_bytes_never_crash_the_decoder(chunks):
    dec = FrameDecoder()
    for chunk in chunks:
        out = dec.feed(chunk)
        assert out.payload.shape[1] == 321
        assert out.serial.size == out.crc_ok.size == out.start_chip.size
    c = dec.counters
    assert c.frames_received == c.frames_good + c.frame_errors


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=0, max_size=2000), st.integers(0, 7))
def test_garbage_around_valid_frames_is_skipped(garbage, lead):
    payloads = np.frombuffer(bytes(range(256)) * 2, np.uint8)[:321][None, :].repeat(3, 0)
    stream = np.concatenate([np.frombuffer(garbage, np.uint8), _shift_chips(encode_frames(payloads), lead)])
    out = FrameDecoder().feed(stream)
    assert out.serial[out.crc_ok].tolist() == [0, 1, 2]
    assert np.array_equal(out.payload[out.crc_ok], payloads)


def test_ppm_round_trip_and_noisy_counts():
    rng = np.random.default_rng(9)
    data = rng.integers(0, 256, 500, dtype=np.uint8)
    for order in (2, 4, 16, 256):
        chips = linecode.ppm_encode(data, order)
        assert chips.size % order == 0 and chips.reshape(-1, order).sum(axis=1).tolist() == [1] * (chips.size // order)
        assert np.array_equal(linecode.ppm_decode(chips, order, data.size), data)
    # photon counts: signal slot mean 20, noise slots mean 0.5 -> decoded with no error
    chips = linecode.ppm_encode(data, 16)
    counts = rng.poisson(np.where(chips == 1, 20.0, 0.5))
    assert np.array_equal(linecode.ppm_decode(counts, 16, data.size), data)


def test_ppm_bad_order():
    with pytest.raises(ModemError):
        linecode.ppm_encode(b"ab", 12)
    with pytest.raises(ModemError):
        linecode.ppm_decode(np.zeros(15), 4, 1)


def test_modem_stats_report_between_snapshots():
    import dataclasses

    rng = np.random.default_rng(13)
    payloads = rng.integers(0, 256, (20, 321), dtype=np.uint8)
    chips = encode_frames(payloads).reshape(20, -1).copy()
    chips[4, 100] ^= 0x80
    dec = FrameDecoder()
    before = dataclasses.replace(dec.counters)
    out = dec.feed(np.delete(chips, [9], axis=0).ravel())
    errs = framing.count_bit_errors(out.payload, payloads[out.serial])
    rep = framing.stats_between(before, dec.counters, 0.5, 50e6, 321, "downlink", errs, out.payload.size * 8,
                                range_m=7e5, range_rate_mps=-3e3, clock_offset_s=1e-6)
    assert rep.frames_received == 19 and rep.frame_errors == 1 and rep.frames_lost == 1
    assert rep.frame_error_rate == pytest.approx(2 / 20)
    assert rep.goodput_bps == pytest.approx(18 * 321 * 8 / 0.5)
    assert rep.bit_errors == 1 and rep.ber == pytest.approx(1 / (19 * 321 * 8))
    assert rep.range_valid and rep.range_m == 7e5
    with pytest.raises(ModemError):
        framing.stats_between(dec.counters, before, 1.0, 50e6, 321)
