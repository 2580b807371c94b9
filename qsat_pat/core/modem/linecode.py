"""Line codes: Manchester (Vector convention) and M-ary pulse-position modulation (NanoBob).

Chips are the channel symbols (laser on = 1, off = 0).  Two representations are used:

* *packed*: a ``uint8`` array, 8 chips per byte, most significant bit first (what the
  modem moves around; fast);
* *unpacked*: a ``uint8`` array of 0/1, one chip per element (what the channel model uses).

Manchester convention (seed 003 §2.5): a low->high transition in the middle of the bit period
is logic 0, high->low is logic 1, i.e. bit 0 -> chips ``01`` and bit 1 -> chips ``10``.  Each
data byte therefore becomes 16 chips = 2 packed bytes.

References
----------
seed 003 (Vector) §2.5; seed 001 (NanoBob) §1 (c), §4.6 (PPM for the beacon/comm link).
"""

from __future__ import annotations

import numpy as np

from qsat_pat.core.errors import ModemError


def _build_manchester_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    enc = np.zeros(256, dtype=np.uint16)
    for byte in range(256):
        word = 0
        for i in range(7, -1, -1):
            bit = (byte >> i) & 1
            word = (word << 2) | (0b10 if bit else 0b01)
        enc[byte] = word
    words = np.arange(65536, dtype=np.uint32)
    pairs = np.stack([(words >> (14 - 2 * i)) & 0b11 for i in range(8)], axis=1)  # (65536, 8)
    first = (pairs >> 1) & 1  # data bit = first chip of the pair (01 -> 0, 10 -> 1)
    weights = (1 << np.arange(7, -1, -1)).astype(np.uint32)
    dec = (first * weights).sum(axis=1).astype(np.uint8)
    invalid = ((pairs == 0) | (pairs == 3)).sum(axis=1).astype(np.uint8)
    return enc.astype(">u2"), dec, invalid


_MAN_ENC, _MAN_DEC, _MAN_INVALID = _build_manchester_tables()
#: Number of set bits of every byte value (for Hamming distances).
POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def as_bytes_array(data) -> np.ndarray:
    """``bytes``/``bytearray``/array-like of 0..255 -> contiguous ``uint8`` array (no copy if possible)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(bytes(data), dtype=np.uint8)
    arr = np.asarray(data)
    if arr.dtype != np.uint8:
        if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > 255):
            raise ModemError("byte data must be bytes or integers in 0..255")
        arr = arr.astype(np.uint8)
    return np.ascontiguousarray(arr)


def manchester_encode(data) -> np.ndarray:
    """Manchester-encode bytes into packed chips (2 chip bytes per data byte).

    Parameters
    ----------
    data : bytes or array_like of uint8, any shape
        Data bytes; the last axis is doubled in length.

    Returns
    -------
    numpy.ndarray of uint8
        Packed chips, MSB first, ``bit 0 -> 01``, ``bit 1 -> 10`` (seed 003 §2.5).
    """
    arr = as_bytes_array(data)
    out = _MAN_ENC[arr]
    return out.view(np.uint8).reshape(*arr.shape[:-1], arr.shape[-1] * 2) if arr.ndim else out.view(np.uint8)


def manchester_decode(chips) -> tuple[np.ndarray, np.ndarray]:
    """Decode byte-aligned packed Manchester chips.

    Parameters
    ----------
    chips : array_like of uint8, last axis of even length
        Packed chips whose first chip is the first half of a bit.

    Returns
    -------
    data : numpy.ndarray of uint8
        Decoded bytes (last axis halved); the bit is the first chip of each pair.
    invalid : numpy.ndarray of uint8
        Number of invalid chip pairs (``00`` or ``11``, a code violation) per decoded byte.
    """
    arr = as_bytes_array(chips)
    if arr.shape[-1] % 2:
        raise ModemError("Manchester chip bytes must come in pairs (even length)")
    words = np.ascontiguousarray(arr).view(">u2")
    return _MAN_DEC[words], _MAN_INVALID[words]


def shift_left_bits(buf, shift: int) -> np.ndarray:
    """Shift a packed bit stream left by ``shift`` (0..7) bits; the result is one byte shorter if shift>0."""
    arr = as_bytes_array(buf)
    if not 0 <= shift < 8:
        raise ModemError(f"bit shift must be in 0..7, got {shift}")
    if shift == 0:
        return arr
    if arr.size < 2:
        return np.zeros(0, dtype=np.uint8)
    hi = arr[:-1] << np.uint8(shift)
    lo = arr[1:] >> np.uint8(8 - shift)
    return hi | lo


def manchester_encode_bits(bits) -> np.ndarray:
    """Unpacked bits (0/1) -> unpacked chips, ``0 -> 01``, ``1 -> 10``."""
    b = np.asarray(bits, dtype=np.uint8) & 1
    out = np.empty(b.size * 2, dtype=np.uint8)
    out[0::2] = b
    out[1::2] = 1 - b
    return out


def manchester_decode_bits(chips) -> tuple[np.ndarray, np.ndarray]:
    """Unpacked chips -> (bits = first chip of each pair, boolean code-violation mask)."""
    c = np.asarray(chips, dtype=np.uint8)
    if c.size % 2:
        raise ModemError("Manchester chip stream must have an even number of chips")
    first, second = c[0::2], c[1::2]
    return first.copy(), first == second


# --------------------------------------------------------------------------- PPM
def _ppm_bits_per_symbol(order: int) -> int:
    k = int(order).bit_length() - 1
    if order < 2 or (1 << k) != order or k > 16:
        raise ModemError(f"PPM order must be a power of two in 2..65536, got {order}")
    return k


def ppm_encode(data, order: int) -> np.ndarray:
    """M-ary PPM: ``log2(M)`` bits per symbol -> one pulse in ``M`` slots.

    Parameters
    ----------
    data : bytes or array_like of uint8
        Data bytes (bits MSB first; the last symbol is zero-padded).
    order : int
        Number of slots M (power of two).

    Returns
    -------
    numpy.ndarray of uint8, shape (n_symbols * M,)
        Unpacked slot chips, exactly one 1 per symbol.

    References
    ----------
    seed 001 (NanoBob) §1 (c), §4.6.
    """
    k = _ppm_bits_per_symbol(order)
    bits = np.unpackbits(as_bytes_array(data))
    n_sym = -(-bits.size // k)
    padded = np.zeros(n_sym * k, dtype=np.uint8)
    padded[: bits.size] = bits
    weights = (1 << np.arange(k - 1, -1, -1)).astype(np.int64)
    slots = padded.reshape(n_sym, k).astype(np.int64) @ weights
    chips = np.zeros((n_sym, order), dtype=np.uint8)
    chips[np.arange(n_sym), slots] = 1
    return chips.ravel()


def ppm_decode(slot_values, order: int, n_bytes: int) -> np.ndarray:
    """Decode PPM by picking the slot with the largest value (count or chip) per symbol.

    Parameters
    ----------
    slot_values : array_like, shape (n_symbols * M,)
        Photon counts, soft values or hard chips per slot.
    order : int
        Number of slots M.
    n_bytes : int
        Number of data bytes to return.

    Raises
    ------
    ModemError
        If the stream is not a whole number of symbols or too short for ``n_bytes``.
    """
    k = _ppm_bits_per_symbol(order)
    vals = np.asarray(slot_values)
    if vals.size % order:
        raise ModemError(f"PPM stream length {vals.size} is not a multiple of the order {order}")
    n_sym = vals.size // order
    if n_sym * k < 8 * n_bytes:
        raise ModemError(f"PPM stream of {n_sym} symbols carries fewer than {n_bytes} bytes")
    slots = np.argmax(vals.reshape(n_sym, order), axis=1)
    bits = ((slots[:, None] >> np.arange(k - 1, -1, -1)) & 1).astype(np.uint8).ravel()
    return np.packbits(bits[: 8 * n_bytes])
