"""Optional Reed-Solomon forward error correction of the frame payload (reedsolo library).

The 321-octet payload field of a Vector frame (seed 003 §2.5) holds an RS codeword over GF(256)
built by :class:`reedsolo.RSCodec` with ``nsym`` parity octets per 255-octet block; the field
is split into ``ceil(321/255) = 2`` blocks, so the user capacity is ``321 - 2 nsym`` octets and
up to ``nsym/2`` octet errors per block are corrected.  The CRC of the frame covers the codeword
as transmitted, so after a successful correction the CRC checks the corrected codeword.
"""

from __future__ import annotations

import math

import numpy as np
import reedsolo

from qsat_pat.core.errors import ModemError


class PayloadFec:
    """Reed-Solomon coder for a fixed payload field.

    Parameters
    ----------
    field_octets : int
        Size of the payload field (321 for Vector).
    nsym : int
        RS parity octets per block (even, 2..64).

    Raises
    ------
    ModemError
        If ``nsym`` leaves no room for data.
    """

    BLOCK = 255

    def __init__(self, field_octets: int, nsym: int) -> None:
        if nsym < 2 or nsym % 2 or nsym > 64:
            raise ModemError(f"RS parity octets nsym must be even in 2..64, got {nsym}")
        self.field_octets = int(field_octets)
        self.nsym = int(nsym)
        self.blocks = math.ceil(self.field_octets / self.BLOCK)
        self.capacity = self.field_octets - self.blocks * self.nsym
        if self.capacity <= 0 or (self.field_octets - (self.blocks - 1) * self.BLOCK) <= self.nsym:
            raise ModemError(f"nsym={nsym} leaves no data room in a {field_octets}-octet field")
        self._codec = reedsolo.RSCodec(self.nsym, nsize=self.BLOCK)

    def encode(self, data: np.ndarray) -> np.ndarray:
        """Encode ``(n, capacity)`` uint8 data into ``(n, field_octets)`` codewords."""
        data = np.asarray(data, dtype=np.uint8)
        out = np.empty((data.shape[0], self.field_octets), dtype=np.uint8)
        for i, row in enumerate(data):
            out[i] = np.frombuffer(bytes(self._codec.encode(row.tobytes())), dtype=np.uint8)
        return out

    def decode(self, codewords: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Correct codewords.

        Returns
        -------
        data : (n, capacity) uint8
            Corrected data (the received systematic part where correction failed).
        corrected : (n, field_octets) uint8
            Corrected codewords (the received ones where correction failed).
        ok : (n,) bool
            False where the RS decoder reported too many errors.
        """
        codewords = np.asarray(codewords, dtype=np.uint8)
        n = codewords.shape[0]
        corrected = codewords.copy()
        ok = np.ones(n, dtype=bool)
        for i in range(n):
            try:
                _, full, _ = self._codec.decode(codewords[i].tobytes())
            except reedsolo.ReedSolomonError:
                ok[i] = False
                continue
            corrected[i] = np.frombuffer(bytes(full), dtype=np.uint8)
        data = self._strip(corrected)
        return data, corrected, ok

    def _strip(self, codewords: np.ndarray) -> np.ndarray:
        parts = []
        pos = 0
        for _ in range(self.blocks):
            size = min(self.BLOCK, self.field_octets - pos)
            parts.append(codewords[:, pos: pos + size - self.nsym])
            pos += size
        return np.concatenate(parts, axis=1)
