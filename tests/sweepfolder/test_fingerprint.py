"""The model a sweep measured: found at its path, or refused with the file and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.sweeps import recorded_sweep
from helpers.tinymodels import TinySpec, write_tiny_model

from rys_gguf.errors import ScanError
from rys_gguf.sweepfolder.fingerprint import sweep_model


def test_the_measured_model_is_returned(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = recorded_sweep(tmp_path / "s", src, 2)
    assert sweep_model(out) == src.resolve()


def test_another_file_at_the_path_is_refused(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = recorded_sweep(tmp_path / "s", src, 2)
    write_tiny_model(src, TinySpec("llama", n_layers=2, seed=1))  # re-quantized in place
    with pytest.raises(ScanError) as info:
        sweep_model(out)
    message = str(info.value)
    assert message.startswith(str(out / "sweep.json")) and str(src.resolve()) in message and "\n" not in message
    assert "not the model this sweep measured" in message and "new folder" in message


def test_a_file_that_is_no_gguf_any_more_is_refused(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = recorded_sweep(tmp_path / "s", src, 2)
    src.write_bytes(b"not a model")
    with pytest.raises(ScanError, match="no longer the measured file"):
        sweep_model(out)


def test_a_missing_model_or_fingerprint_is_refused(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    out = recorded_sweep(tmp_path / "s", src, 2)
    src.unlink()
    with pytest.raises(ScanError, match="is gone; put the measured file back"):
        sweep_model(out)
    meta = json.loads((out / "sweep.json").read_text())
    del meta["model"]["fingerprint"]
    (out / "sweep.json").write_text(json.dumps(meta))
    with pytest.raises(ScanError, match=r"no model\.path and model\.fingerprint"):
        sweep_model(out)
