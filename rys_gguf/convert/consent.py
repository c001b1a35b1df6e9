"""What a model folder may make the converter run: its own Python code, and pickled weights.

llama.cpp's converter calls transformers with ``trust_remote_code=True`` wherever it loads a
tokenizer (14 places in the copy of llama-cpp-python 0.3.36), so a folder whose ``auto_map`` names a
class in its own ``tokenization_*.py`` gets that file imported and run. Whether that happens
depends on the converter's path for the architecture, so the rule here does not guess: a folder
that carries Python files or an ``auto_map`` is refused unless ``trust_remote_code``.

Pickled weights (``pytorch_model*.bin``, read only when the folder has no safetensors, and a
draft model's ``mask_embedding.pt``) are loaded by the converter with
``torch.load(..., weights_only=True)``: torch's restricted unpickler, which rebuilds tensors and
plain containers and refuses any other object. That is safe only from torch 2.6 on (earlier
versions could be made to run code through it, CVE-2025-32434), and a pickle is still a format
made to run code, so pickled weights need ``allow_pickle``, and torch >= 2.6 even then.

Left out: reading the code or the pickles to judge them (nothing here executes or unpickles).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

from ..errors import ConvertError

# The configuration files whose auto_map makes transformers' Auto* classes import folder code.
AUTO_MAP_FILES = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json")
PICKLED_EXTRAS = ("mask_embedding.pt",)  # torch.load'ed by the converter beside the weights
SAFE_TORCH = (2, 6)
MAX_NAMED = 5
MAX_CONFIG_BYTES = 16 << 20


def code_files(folder: Path) -> list[str]:
    """The folder's Python files and the configs with an ``auto_map``, as names to show."""
    found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.py") if p.is_file())
    for name in AUTO_MAP_FILES:
        if _has_auto_map(folder / name):
            found.append(f"auto_map in {name}")
    return found


def _has_auto_map(path: Path) -> bool:
    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False  # an unreadable config is read_hf_dir's to report
    return isinstance(data, dict) and "auto_map" in data


def pickled_files(folder: Path, weight_files: tuple[Path, ...]) -> list[str]:
    """The pickles the converter would unpickle: .bin weights and the extras it loads."""
    found = [str(p.relative_to(folder)) for p in weight_files if p.suffix != ".safetensors"]
    return found + [name for name in PICKLED_EXTRAS if (folder / name).is_file()]


def _listed(names: list[str]) -> str:
    more = f" (+{len(names) - MAX_NAMED} more)" if len(names) > MAX_NAMED else ""
    return ", ".join(names[:MAX_NAMED]) + more


def torch_version() -> tuple[int, int] | None:
    """The installed torch's (major, minor), None when torch is not installed or unreadable."""
    try:
        m = re.match(r"(\d+)\.(\d+)", importlib.metadata.version("torch"))
    except importlib.metadata.PackageNotFoundError:
        return None
    return (int(m[1]), int(m[2])) if m else None


def check_consent(folder: Path, weight_files: tuple[Path, ...], *, trust_remote_code: bool, allow_pickle: bool) -> None:
    """Refuse (ConvertError, one line naming the files) code or pickles the user did not allow."""
    code = code_files(folder)
    if code and not trust_remote_code:
        raise ConvertError(
            f"{folder} carries code that converting may run ({_listed(code)}): llama.cpp's converter "
            "lets transformers import it; read it, then pass --trust-remote-code to allow it"
        )
    pickles = pickled_files(folder, weight_files)
    if not pickles:
        return
    if not allow_pickle:
        raise ConvertError(
            f"{folder} holds pickled weights ({_listed(pickles)}), a format that can run code when "
            "loaded; pass --allow-pickle to load them with torch's restricted unpickler "
            "(torch.load weights_only=True), or convert them to safetensors first"
        )
    version = torch_version()
    if version is not None and version < SAFE_TORCH:
        raise ConvertError(
            f"{folder} holds pickled weights ({_listed(pickles)}) and torch {version[0]}.{version[1]} is "
            f"installed: its weights_only loader can be made to run code before torch "
            f"{SAFE_TORCH[0]}.{SAFE_TORCH[1]} (CVE-2025-32434); pip install 'torch>=2.6'"
        )
