"""Hand a GGUF to LM Studio: hard links (or copies) in its models folder, ROOT/PUBLISHER/NAME/.

LM Studio lists every GGUF it finds two folders deep under its models folder, so no import
step is needed. Left out: ``lms import`` and LM Studio's own download metadata.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..builder.source import model_constraints, swa_array_warning
from ..errors import ExportError
from ..events import Note, OnEvent, Progress, Stage, emit
from ..files import Writeback, copy_range, new_folder, staged
from ..gguffile.reader import GGUFModel
from ..gguffile.spec import model_stem

LMSTUDIO_ENV = "LMSTUDIO_MODELS_DIR"
DEFAULT_PUBLISHER = "rys-gguf"
_FOLDER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")


@dataclass(frozen=True, slots=True)
class LMStudioExport:
    """Files placed in LM Studio's models folder."""

    folder: Path
    files: tuple[Path, ...]
    copied: bool
    warnings: tuple[str, ...]


def lmstudio_root(root: str | os.PathLike[str] | None = None) -> Path:
    """LM Studio's models folder: ``root``, else $LMSTUDIO_MODELS_DIR, else ~/.lmstudio/models."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(LMSTUDIO_ENV)
    return Path(env).expanduser() if env else Path.home() / ".lmstudio" / "models"


@dataclass(frozen=True, slots=True)
class LMStudioOptions:
    """Where LM Studio finds the model: ``ROOT/PUBLISHER/NAME/`` (NAME: the file name without
    extension and shard suffix; ROOT: `lmstudio_root`), hard links or a ``copy``, and ``force`` to
    replace same-named files that are not this model's."""

    publisher: str = DEFAULT_PUBLISHER
    name: str | None = None
    root: str | os.PathLike[str] | None = None
    copy: bool = False
    force: bool = False


def export_lmstudio(
    path: str | os.PathLike[str],
    options: LMStudioOptions = LMStudioOptions(),
    *,
    progress: Progress | None = None,
    on_event: OnEvent | None = None,
) -> LMStudioExport:
    """Hard-link (or copy) a model and all its shards into LM Studio's models folder.

    ``on_event`` gets a `Stage` before a copy (``progress``: bytes copied) and a warning `Note`
    when the file needs a newer runtime than LM Studio's.
    Raises ExportError for a bad folder name, a link that cannot be made, or a file in the way.
    """
    path = Path(path)
    publisher, root, copy, force = options.publisher, options.root, options.copy, options.force
    name = options.name if options.name is not None else model_stem(path)
    for label, value in (("--publisher", publisher), ("--name", name)):
        if not _FOLDER_RE.match(value) or value in (".", ".."):
            raise ExportError(f"{label} {value!r}: one folder name of letters, digits, ' ._-'")
    with GGUFModel(path) as model:
        model_constraints(model)  # a corrupt layer count is refused here, not by LM Studio later
        shards = [f.path for f in model.files]
        warning = swa_array_warning(model, "an LM Studio engine older than llama.cpp PR #29042")
    folder = lmstudio_root(root) / publisher / name
    # Folders made here go again if the export is refused or interrupted before a file lands.
    with new_folder(folder, "choose --root"):
        targets = [folder / p.name for p in shards]
        for src, dst in zip(shards, targets, strict=True):
            if dst.exists() and not dst.samefile(src) and not force:
                raise ExportError(f"{dst}: another file has this name; pass --force to replace it")
        if copy:
            emit(on_event, Stage(f"copying into {folder}", sum(p.stat().st_size for p in shards), "B"))
        placed: list[Path] = []
        try:
            for src, dst in zip(shards, targets, strict=True):
                if dst.exists() and dst.samefile(src):
                    continue  # already linked
                _place(src, dst, copy, progress)
                placed.append(dst)
        except BaseException:
            for dst in placed:  # a split model appears whole or not at all
                dst.unlink(missing_ok=True)
            raise
    if warning:
        emit(on_event, Note(warning, warning=True))
    return LMStudioExport(folder, tuple(targets), copy, (warning,) if warning else ())


def _place(src: Path, dst: Path, copy: bool, progress: Progress | None) -> None:
    with staged([dst]) as (tmp,):
        if copy:
            _copy_file(src, tmp, progress)
        else:
            _link(src, tmp)


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError as e:
        if e.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise ExportError(
                f"cannot hard-link {src} into {dst.parent} ({e.strerror}: another filesystem, or "
                "no link support); pass --copy to copy it, or --root on the model's filesystem"
            ) from None
        raise


def _copy_file(src: Path, dst: Path, progress: Progress | None) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        n = os.fstat(fin.fileno()).st_size
        copy_range(fin.fileno(), 0, n, fout.fileno(), progress, Writeback(fout.fileno()))
        os.fsync(fout.fileno())
