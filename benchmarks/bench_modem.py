"""Modem software throughput on one core (encode and decode, Mbit/s), written as JSON.

Usage::

    .venv/bin/python benchmarks/bench_modem.py --out benchmarks/results/modem.json

Floor: >= 156.25 Mbit/s encode and decode (Jinan-1's line rate, seed 000).  ``encode_mbps`` and
``decode_mbps`` count line bits (whole 347-octet frame periods: preamble, serial, payload, CRC,
gap; before Manchester coding, which doubles the chip count); ``*_payload_mbps`` count user bits.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qsat_pat.core.modem import channel, clocksync  # noqa: E402
from qsat_pat.core.modem.framing import FrameConfig, FrameDecoder, encode_frames, measure_throughput  # noqa: E402

FLOOR_MBPS = 156.25


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "modem.json")
    parser.add_argument("--frames", type=int, default=50000, help="frames per run (50000 ~ 0.9 s at 156.25 Mbit/s)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    plain = measure_throughput(args.frames, args.repeats, time.perf_counter, rng)
    fec = measure_throughput(max(200, args.frames // 50), 2, time.perf_counter, rng, FrameConfig(fec_nsym=16))

    # decoding a noisy stream (BER 1e-3 on chips, resyncs after lost preambles)
    payloads = rng.integers(0, 256, (args.frames // 5, 321), dtype=np.uint8)
    noisy = channel.flip_packed_bits(encode_frames(payloads), 1e-3, rng)
    dec = FrameDecoder()
    t0 = time.perf_counter()
    dec.feed(noisy)
    t_noisy = time.perf_counter() - t0
    noisy_mbps = payloads.shape[0] * 347 * 8 / t_noisy / 1e6

    # clock synchronisation: 1 s of NanoBob-like time tags
    t_a, t_b = clocksync.simulate_time_tags(1e6, 1.0, 0.01, 1.234e-4, 1e-7, 3e-10, 1e3, rng)
    t0 = time.perf_counter()
    clocksync.synchronise(t_a, t_b)
    t_sync = time.perf_counter() - t0

    result = {
        "encode_mbps": plain.encode_line_bps / 1e6,
        "decode_mbps": plain.decode_line_bps / 1e6,
        "encode_payload_mbps": plain.encode_payload_bps / 1e6,
        "decode_payload_mbps": plain.decode_payload_bps / 1e6,
        "line_rate_mbps": FLOOR_MBPS,
        "meets_floor": bool(min(plain.encode_line_bps, plain.decode_line_bps) >= FLOOR_MBPS * 1e6),
        "frames_per_run": plain.frames,
        "frames_ok": plain.frames_ok,
        "decode_noisy_ber1e-3_mbps": noisy_mbps,
        "noisy_frame_error_rate": dec.counters.frame_error_rate,
        "fec16_encode_mbps": fec.encode_line_bps / 1e6,
        "fec16_decode_mbps": fec.decode_line_bps / 1e6,
        "clock_sync_1s_1e6_events_s": t_sync,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu_count": os.cpu_count(),
            "processor": platform.processor(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
