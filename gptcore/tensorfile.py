"""Reading safetensors files one tensor at a time with plain reads, not a memory map.

safetensors' own reader maps the whole file into memory; every page it touches then counts
against the process while the model fills up, so loading a model would briefly cost about twice
its size. Reading each tensor into a fresh buffer keeps the peak at the model plus one tensor.

Format: 8 bytes (little-endian length N), N bytes of JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then data.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_MAX_HEADER_BYTES = 100 * 2**20  # a real header is kilobytes; more means the file is not safetensors


class TensorFile:
    """A safetensors file opened for reading: names, shapes and metadata up front, tensors on demand."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"{self.path} does not exist")
        size = self.path.stat().st_size
        with self.path.open("rb") as file:
            prefix = file.read(8)
            (header_bytes,) = struct.unpack("<Q", prefix) if len(prefix) == 8 else (-1,)
            if not 0 < header_bytes <= min(_MAX_HEADER_BYTES, size - 8):
                raise self._damaged("its header is missing or cut off")
            try:
                header = json.loads(file.read(header_bytes))
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise self._damaged("its header is not valid JSON") from None
        if not isinstance(header, dict):
            raise self._damaged("its header is not a table of tensors")
        self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
        self._data_start = 8 + header_bytes
        self._entries = header
        try:
            self.shapes = {name: tuple(entry["shape"]) for name, entry in header.items()}
            end = max((entry["data_offsets"][1] for entry in header.values()), default=0)
        except (KeyError, TypeError, IndexError):
            raise self._damaged("its header does not describe tensors") from None
        if self._data_start + end > size:
            raise self._damaged(f"it is truncated: {size:,} bytes, but its header describes {self._data_start + end:,}")

    def _damaged(self, why: str) -> ValueError:
        return ValueError(f"{self.path} is damaged or not a safetensors file: {why}; download or save it again")

    def _locate(self, name: str) -> tuple[torch.dtype, list[int], int, int]:
        entry = self._entries[name]
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{self.path}: tensor '{name}' has unsupported dtype {entry['dtype']}")
        begin, end = entry["data_offsets"]
        expected = torch.Size(entry["shape"]).numel() * torch.empty((), dtype=dtype).element_size()
        if end - begin != expected:
            raise self._damaged(f"tensor '{name}' has {end - begin} bytes of data for shape {entry['shape']}")
        return dtype, entry["shape"], self._data_start + begin, end - begin

    def _read_bytes(self, name: str, offset: int, destination: memoryview) -> None:
        with self.path.open("rb") as file:
            file.seek(offset)
            if file.readinto(destination) != destination.nbytes:
                raise self._damaged(f"tensor '{name}' is cut off")

    def read(self, name: str) -> torch.Tensor:
        """One tensor, read from disk into its own memory."""
        dtype, shape, offset, nbytes = self._locate(name)
        tensor = torch.empty(shape, dtype=dtype)
        if nbytes:
            self._read_bytes(name, offset, memoryview(tensor.view(-1).view(torch.uint8).numpy()).cast("B"))
        return tensor

    def read_into(self, name: str, destination: torch.Tensor) -> None:
        """Read one tensor straight into ``destination`` (same shape); no buffer when its memory is contiguous."""
        dtype, shape, offset, nbytes = self._locate(name)
        if tuple(destination.shape) != tuple(shape):
            raise ValueError(f"{self.path}: tensor '{name}' has shape {tuple(shape)}, not {tuple(destination.shape)}")
        if destination.dtype == dtype and destination.is_contiguous() and nbytes:
            with torch.no_grad():
                raw = destination.detach().view(-1).view(torch.uint8)  # the destination's own bytes
                self._read_bytes(name, offset, memoryview(raw.numpy()).cast("B"))
        else:
            with torch.no_grad():
                destination.copy_(self.read(name))


_DTYPE_NAMES = {dtype: name for name, dtype in _DTYPES.items()}


def _tensor_bytes(tensor: torch.Tensor) -> memoryview:
    """A tensor's data in row-major order (a contiguous copy only if it is laid out otherwise)."""
    flat = tensor.detach().contiguous().view(-1)
    return memoryview(flat.view(torch.uint8).numpy()).cast("B") if flat.numel() else memoryview(b"")


def write_tensor_file(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write tensors in the safetensors format, one tensor at a time (no second copy of the model)."""
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": _DTYPE_NAMES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)  # keep the data 8-byte aligned, as safetensors does
    with Path(path).open("wb") as file:
        file.write(struct.pack("<Q", len(header_bytes)))
        file.write(header_bytes)
        for tensor in tensors.values():
            file.write(_tensor_bytes(tensor))
        file.flush()
        os.fsync(file.fileno())  # on disk before the caller renames it into place
