"""The model a sweep measured: its fingerprint, and the check that the file at its path still is it.

A sweep's scores belong to one file. Re-quantized, re-downloaded or replaced at the same path, the
file is another model, and re-measuring it (validate, eval --sweep, stack) would compare numbers
of two models. ``scan`` refuses to resume into a folder of another model by the same fingerprint.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import GGUFFormatError, ScanError
from ..gguffile.reader import GGUFModel
from .records import SWEEP_FILE, SweepMeta, identity, read_meta


def fingerprint(model: GGUFModel) -> str:
    """A quick identity: every shard's header plus 16 samples of its bytes (not all 40 GB)."""
    h = hashlib.sha256(str(model.n_bytes).encode())
    for f in model.files:
        with open(f.path, "rb") as fh:
            h.update(fh.read(f.header_size))
            for k in range(16):
                fh.seek(f.size * k // 16)
                h.update(fh.read(1 << 16))
    return h.hexdigest()


def sweep_model(directory: str | Path, meta: SweepMeta | None = None) -> Path:
    """The model file the sweep in ``directory`` measured, checked against its fingerprint.

    Raises:
        ScanError: sweep.json names no model, the file is gone, or it is another model now.
    """
    directory = Path(directory)
    meta = read_meta(directory) if meta is None else meta
    where = directory / SWEEP_FILE
    model = meta.get("model")
    path = model.get("path") if isinstance(model, dict) else None
    recorded, _ = identity(meta)
    if not isinstance(path, str) or not path or not isinstance(recorded, str):
        raise ScanError(f"{where}: no model.path and model.fingerprint; pass the folder a scan wrote")
    source = Path(path)
    if not source.is_file():
        raise ScanError(f"{where}: the model {source} is gone; put the measured file back at that path")
    try:
        with GGUFModel(source) as opened:
            now = fingerprint(opened)
    except GGUFFormatError as e:
        raise ScanError(f"{where}: the model at {source} is no longer the measured file ({e})") from None
    if now != recorded:
        raise ScanError(
            f"{where}: {source} is not the model this sweep measured (its fingerprint changed: re-quantized, "
            "re-downloaded or replaced); put the measured file back at that path, or scan this one into a new folder"
        )
    return source
