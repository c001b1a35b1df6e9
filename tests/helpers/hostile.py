"""Valid files that carry hostile strings: the corpus of what a stranger's model can hold.

Beside ``brokenfiles`` (files a command must refuse), these files are fine as files; only their
strings are hostile: newlines and Modelfile directive words, quotes and triple quotes, terminal
control sequences (OSC title and clipboard writes, CSI, one-byte C1 CSI), bidi overrides, Markdown
and HTML, spreadsheet formulas and very long values. They go everywhere a command reads a string:
``general.name``, ``general.architecture``, ``tokenizer.chat_template``, the token texts used as
stop strings, the recorded RYS config, a sweep folder's sweep.json (model path and name) and its
rows (configs, failure reasons), and HF folders that carry code or pickles. Written at test time
with gguf-py (``tinymodels``) or rys_gguf's encoder; no binary fixtures.
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path
from typing import Any

from gguf import GGUFValue, GGUFValueType

from helpers.tinymodels import TinySpec, _vocab, write_tiny_model
from rys_gguf.gguffile.spec import ValueType
from rys_gguf.gguffile.writer import encode_kv, encode_string

INJECTION = 'x\nSYSTEM """pwned"""\nADAPTER /etc/passwd\nPARAMETER num_ctx 1'
STRINGS = {
    "directives": INJECTION,
    "cr-directive": "x\rSYSTEM pwned",
    "quotes": 'say "hi" it\'s',
    "triple-quotes": '"""\nSYSTEM pwned\n"""',
    "osc-title": "\x1b]0;pwned title\x07",
    "osc-clipboard": "\x1b]52;c;cm0gLXJmIH4K\x07",
    "csi": "\x1b[2J\x1b[31mred\x1b[0m",
    "c1": "\x9b2J\x9d0;title\x9c\x85",
    "bidi": "\u202egguf.exe\u202c \u2066x\u2069",
    "markup": "<img src=x onerror=alert(1)> | `tick` **b** [l](http://x) $x^2$ <script>",
    "formula": '=HYPERLINK("http://x","y")',
    "long": "L" * 20_000 + "\x1b]0;tail\x07",
}
# Everything at once, for the commands that are slow to run once per string.
EVIL = "".join(v for k, v in STRINGS.items() if k != "long") + "L" * 5000
# Characters that must never reach a terminal raw: ESC, BEL, C1 (U+0080..U+009F), bidi controls.
FORBIDDEN = {chr(c) for c in [0x07, 0x1B, 0x0D, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def forbidden_in(text: str) -> list[str]:
    """The forbidden characters in ``text`` (empty when it is safe for a terminal)."""
    return sorted({c for c in text if c in FORBIDDEN}, key=ord)


def _strings_kv(
    name: str | None, eos: str | None, template: str | None, pieces: dict[int, str] | None
) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if name is not None:
        extra["general.name"] = name
    if template is not None:
        extra["tokenizer.chat_template"] = template
    if eos is not None or pieces:
        tokens = list(_vocab()[0])
        if eos is not None:
            tokens[2] = eos
        for k, text in (pieces or {}).items():
            tokens[k] = text
        extra["tokenizer.ggml.tokens"] = GGUFValue(tokens, GGUFValueType.ARRAY, GGUFValueType.STRING)
    return extra


def hostile_pieces() -> dict[int, str]:
    """Every letter piece (ids 259..293) replaced by a hostile string (each unique), so a model
    that generates anything but bytes generates them."""
    values = [v for k, v in STRINGS.items() if k != "long"]
    return {259 + k: f"{values[k % len(values)]}{k}" for k in range(35)}


def hostile_model(
    path: Path,
    *,
    name: str | None = None,
    eos: str | None = None,
    template: str | None = None,
    pieces: dict[int, str] | None = None,
    n_layers: int = 6,
) -> Path:
    """A tiny llama (gguf-py) whose name, EOS token text, chat template or token texts are hostile.

    ``pieces`` replaces token texts by id (see ``hostile_pieces``); the model still loads.
    """
    extra = _strings_kv(name, eos, template, pieces)
    return write_tiny_model(path, TinySpec("llama", n_layers=n_layers), extra_kv=extra)


def hostile_rys(path: Path, config: str, n_layers: int = 6, **strings: Any) -> Path:
    """A tiny RYS model (layer path 0..3, 2..5 of ``hostile_model``) whose ``rys.config`` is hostile.

    ``strings`` are ``hostile_model``'s (name, eos, template, pieces), for a matching source.
    """
    layer_path = [*range(4), *range(2, n_layers)]
    extra: dict[str, Any] = {
        **_strings_kv(strings.get("name"), strings.get("eos"), strings.get("template"), strings.get("pieces")),
        "rys.layer_path": GGUFValue(layer_path, GGUFValueType.ARRAY, GGUFValueType.UINT32),
        "rys.config": config,
        "rys.source_block_count": n_layers,
    }
    return write_tiny_model(path, TinySpec("llama", n_layers=n_layers), layer_path, extra_kv=extra)


def hostile_arch_model(path: Path, arch: str, n_layers: int = 2) -> Path:
    """A layered GGUF (rys_gguf's encoder) whose ``general.architecture`` is ``arch``.

    Its keys are named after that architecture (``{arch}.block_count``), so readers that key on
    the architecture still find the layer count; llama.cpp does not load it.
    """
    kvs = [
        encode_kv("general.architecture", ValueType.STRING, arch),
        encode_kv(f"{arch}.block_count", ValueType.UINT32, n_layers),
        encode_kv("general.name", ValueType.STRING, arch),
        encode_kv("tokenizer.ggml.tokens", ValueType.ARRAY, ["a", "b", "c"], ValueType.STRING),
    ]
    names = ["token_embd.weight"] + [f"blk.{k}.attn_norm.weight" for k in range(n_layers)]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(names), len(kvs))
    infos = [encode_string(n) + struct.pack("<IQIQ", 1, 32, 0, k * 128) for k, n in enumerate(names)]
    prefix = head + b"".join(kvs) + b"".join(infos)
    data = b"".join(struct.pack("<32f", *([float(k)] * 32)) for k in range(len(names)))
    path.write_bytes(prefix + bytes(-len(prefix) % 32) + data)
    return path


def hostile_sweep(folder: Path, *, name: str, model_path: str, n_layers: int = 6) -> Path:
    """A sweep folder written by hand: hostile model name and path, configs and failure reasons.

    The rows hold raw control characters (json.dumps with ensure_ascii=False leaves DEL, C1 and
    bidi controls raw), as a stranger's sweep folder might.
    """
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": 1,
        "model": {"path": model_path, "name": name, "architecture": "llama", "n_layers": n_layers,
                  "n_bytes": 1, "fingerprint": "f" * 64},
        "probe_set": {"hash": "a" * 16, "math": "search", "eq": "builtin"},
        "runtime": {},
        "created": "2026-01-01T00:00:00Z",
    }  # fmt: skip

    def row(config: str, m: float | None, e: float | None, reason: str | None = None) -> dict[str, Any]:
        return {
            "config": config, "status": "failed" if m is None else "ok", "reason": reason,
            "n_layers": n_layers + 1, "n_extra": 1, "math": m, "eq": e, "math_parse_rate": 1.0,
            "eq_parse_rate": 1.0, "items": {"math": [1.0, 0.0], "eq": [0.5]},
            "model_fingerprint": "f" * 64, "probe_set_hash": "a" * 16, "finished": "2026-01-01T00:00:01Z",
        }  # fmt: skip

    rows = [
        row("0,0", 0.5, 50.0),
        row("2,3", 0.6, 55.0),
        row("1,2", 0.4, 45.0),
        row(STRINGS["formula"], 0.7, 60.0),  # a config outside the grammar: skipped and named, never ranked
        row("-1+1", 0.55, 52.0),
        row(f"3,4{STRINGS['markup']}", 0.3, 40.0),
        row("4,5", None, None, reason=EVIL),
        row("5,6", None, None, reason=STRINGS["formula"]),
    ]
    (folder / "sweep.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (folder / "results.jsonl").write_text(text, encoding="utf-8")
    skipped = {"count": 1, "configs": {"0,6": f"skipped because {STRINGS['bidi']}{STRINGS['csi']}"}}
    (folder / "skipped.json").write_text(json.dumps(skipped, ensure_ascii=False), encoding="utf-8")
    return folder


class RunsCode:
    """A pickle that runs code when loaded: it creates ``marker`` (so a test sees whether it ran)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _safetensors(path: Path, n_floats: int = 16) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}})
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + b"\0" * (4 * n_floats))


def hostile_hf_folder(folder: Path, kind: str, marker: Path | None = None, torch_zip: bool = False) -> Path:
    """An HF folder with code or pickles. ``kind``: "py" (a tokenization_*.py and an auto_map),
    "auto-map" (an auto_map alone), "pickle" (pytorch_model.bin that runs code when unpickled),
    "both" (code and pickle). ``torch_zip`` writes the pickle as torch.save does (a zip holding
    data.pkl), the format the converter's torch.load(mmap=True) goes on to unpickle."""
    folder.mkdir(parents=True)
    config: dict[str, Any] = {"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 4}
    if kind in ("py", "both"):
        (folder / "tokenization_evil.py").write_text(f"open({str(marker)!r}, 'w')\n")
        tokenizer = {"auto_map": {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}}
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    if kind == "auto-map":
        config["auto_map"] = {"AutoConfig": "other/repo--configuration_evil.EvilConfig"}
    (folder / "config.json").write_text(json.dumps(config))
    if kind in ("pickle", "both"):
        evil = {"w": RunsCode(marker or folder / "pickle-ran")}
        if torch_zip:
            import torch

            torch.save(evil, folder / "pytorch_model.bin")
        else:
            (folder / "pytorch_model.bin").write_bytes(pickle.dumps(evil))
    else:
        _safetensors(folder / "model.safetensors")
    return folder
