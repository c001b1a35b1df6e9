"""Files done one way: every writer in rys-gguf goes through here.

- One temporary name, ``.NAME.partial-PID`` beside NAME (`temp_path`), renamed into place only
  when complete (`staged`, `write_atomic`: fsync, then rename), so no reader ever sees half a
  file; `remove_stale_partials` deletes the temporaries of processes that died (kill -9, OOM).
- Checks before writing: the destination (`check_destination`) and the free space
  (`check_free_space`).
- Folder locks (`try_lock`, `waiting_lock`): held by a live process, released by the kernel when it dies.
- The cache folder (`cache_dir`), the byte copy loop (`copy_range`) and byte counts for people
  (`format_bytes`).
- The edges users see: their text files read as UTF-8 or refused in one line (`read_text`), a
  folder created for an output and removed again if the command fails before anything lands in
  it (`new_folder`), an OS error's fix by its errno (`os_fix`), and a temporary's name in a
  message replaced by the output it stands for (`public_names`).

Left out: anything format-specific.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import glob
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from .errors import OutputError, RysError
from .events import Progress

CACHE_ENV = "RYS_CACHE_DIR"
COPY_CHUNK = 16 << 20  # bytes per copy call, and per writeback: one chunk's goes to disk during the next
RESUME_FIX = "free some disk space, then rerun to resume"

# Temporaries: ours (.NAME.partial-PID, .NAME.partial-PID-TAG), and those rys-gguf 0.1 named
# .NAME.PID.<random>.tmp (convert, quantize).
_PARTIAL = r"\.{name}\.(?:partial-(\d+)(?:-\w+)?|(\d+)\..*\.tmp)"


def temp_path(path: Path, tag: str = "") -> Path:
    """The temporary beside ``path`` that this process writes before renaming it to ``path``;
    ``tag`` tells apart several temporaries of one destination (e.g. a work folder)."""
    return path.with_name(f".{path.name}.partial-{os.getpid()}" + (f"-{tag}" if tag else ""))


def remove_stale_partials(path: Path) -> None:
    """Delete temporaries (files or work folders) that dead processes left beside ``path``."""
    own = re.compile(_PARTIAL.format(name=re.escape(path.name)))
    for old in path.parent.glob(f".{glob.escape(path.name)}.*"):
        m = own.fullmatch(old.name)
        if m and not _alive(int(m[1] or m[2])):
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: not ours to judge
    return True


def write_error(path: Path, e: OSError, fix: str = "free some disk space or write elsewhere") -> OutputError:
    """The one-line error for a failed write of ``path``; ``fix`` is for a full disk, other errnos
    (permissions, a read-only file system) get their own (`os_fix`)."""
    if e.errno not in (errno.ENOSPC, errno.EDQUOT):
        fix = os_fix(e, fix)
    return OutputError(f"{public_names(str(path))}: cannot write ({e.strerror or e}); {fix}")


# What to do about an OS error, by errno: the messages the OS gives ("File exists") say what
# went wrong, not what to change.
_ERRNO_FIXES = {
    errno.EEXIST: "something of that name is in the way: remove it or choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "that is a folder: give a file name",
    errno.ENOENT: "check the path (the folder must exist)",
    errno.EACCES: "check the permissions of the file and its folder, or write elsewhere",
    errno.EPERM: "check the permissions of the file and its folder, or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.ENOSPC: "free some disk space or write elsewhere",
    errno.EDQUOT: "your disk quota is used up: free some space or write elsewhere",
    errno.ENAMETOOLONG: "choose a shorter name",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and rerun",
}


def os_fix(e: OSError, default: str = "check the path and rerun") -> str:
    """The fix for an OS error, by its errno (``default`` for the others)."""
    return _ERRNO_FIXES.get(e.errno or 0, default)


# A temporary in a message (``DIR/.NAME.partial-PID[-TAG][/inner]``) stands for DIR/NAME.
_TEMP_IN_TEXT = re.compile(r"(?P<dir>[^\s'\"]*/)?\.(?P<name>[^/\s'\"]+?)\.partial-\d+(?:-\w+)?(?:/[^\s'\":;,()]*)?")


def public_names(text: str) -> str:
    """``text`` with every temporary's path replaced by the output it becomes (users never see
    the temporary: it is gone when the message is read)."""
    return _TEMP_IN_TEXT.sub(lambda m: (m["dir"] or "") + m["name"], text)


def read_text(path: Path, what: str = "file") -> str:
    """A user's text file as UTF-8; an unreadable or non-UTF-8 file is one line naming the file,
    the byte at fault and the fix. ``what`` says what the file is for ("configs file")."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise RysError(f"{path}: cannot read the {what} ({e.strerror or e}); {os_fix(e)}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise RysError(
            f"{path}:{line}: the {what} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
            "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


@contextlib.contextmanager
def new_folder(path: Path, fix: str = "choose another output folder") -> Iterator[Path]:
    """Create ``path`` (and missing parents) for a command's output; if the body fails or is
    interrupted, remove the folders created here that are still empty, so a refused command
    leaves nothing behind (a folder that existed before is never removed)."""
    created = [p for p in (path, *path.parents) if not p.exists()][::-1]  # outermost first
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        for p in reversed(created):
            with contextlib.suppress(OSError):
                p.rmdir()
        raise OutputError(f"{path}: cannot create the folder ({e.strerror or e}); {os_fix(e, fix)}") from None
    try:
        yield path
    except BaseException:
        for p in reversed(created):  # innermost first; rmdir refuses a folder that is not empty
            try:
                p.rmdir()
            except OSError:
                break
        raise


@contextlib.contextmanager
def staged(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Yield temporary paths beside ``paths``; rename them all into place only if the body succeeds.

    The body writes (and fsyncs) the temporaries. Interrupted among the renames, the files
    already renamed are removed again: a set of shards appears whole or not at all.
    """
    temps = [temp_path(p) for p in paths]
    for p in paths:
        remove_stale_partials(p)
    renamed: list[Path] = []
    try:
        yield temps
        for tmp, final in zip(temps, paths, strict=True):
            os.replace(tmp, final)
            renamed.append(final)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise OutputError(
                f"{paths[0]}: disk full while writing; nothing was written: free some disk space or write elsewhere"
            ) from None
        raise write_error(paths[0], e) from None
    finally:
        if len(renamed) < len(paths):
            for final in renamed:
                with contextlib.suppress(OSError):
                    final.unlink()
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                tmp.unlink()


def write_atomic(path: Path, data: bytes | str, fix: str = RESUME_FIX) -> None:
    """Write ``data`` to a temporary beside ``path``, fsync it and rename it into place."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_error(path, e, fix) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_destination(dst: Path, sources: Sequence[Path] = (), force: bool = False) -> None:
    """Refuse writing over a source, into a folder, into a missing folder, or over a file without force."""
    for src in sources:
        same = dst.exists() and src.exists() and os.path.samefile(dst, src)
        if same or dst.resolve() == src.resolve():
            raise OutputError(f"{dst}: the output is the input file; choose another output path")
    if dst.is_dir():
        raise OutputError(f"{dst}: is a folder; give a file name")
    if not dst.parent.is_dir():
        raise OutputError(f"{dst}: folder {dst.parent} does not exist; create it first")
    if dst.exists() and not force:
        raise OutputError(f"{dst}: already exists; pass --force to overwrite it")


def check_free_space(folder: Path, need: int, message: Callable[[int], str]) -> None:
    """Raise OutputError(``message(free bytes)``) when ``folder``'s file system has less than ``need``."""
    free = shutil.disk_usage(folder).free
    if need > free:
        raise OutputError(message(free))


LOCK_NAME = ".lock"


def try_lock(folder: Path) -> IO[str] | None:
    """Take ``folder/.lock`` (exclusive, without waiting); None when another process holds it.

    The lock lasts while the returned file stays open; a process killed with -9 releases it,
    so a later process can tell a live folder from a dead one's leftover.
    """
    fh = open(folder / LOCK_NAME, "a")  # noqa: SIM115 (the caller holds it open)
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


@contextlib.contextmanager
def waiting_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock``, waiting while another process holds it (a download into a shared cache)."""
    with open(folder / LOCK_NAME, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def cache_dir() -> Path:
    """Where downloads and converters are cached: $RYS_CACHE_DIR, else ~/.cache/rys-gguf."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rys-gguf"


def format_bytes(n: float, unit: str | None = None, digits: int = 2) -> str:
    """``12.3 MB`` below a gigabyte, ``4.56 GB`` from there (decimal units); ``unit`` forces one,
    ``digits`` sets the gigabytes' decimals."""
    if unit == "GB" or (unit is None and abs(n) >= 1e9):
        return f"{n / 1e9:.{digits}f} GB"
    return f"{n / 1e6:.1f} MB"


# -- copying --------------------------------------------------------------------------------

_FALLBACK_ERRNOS = (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM)


class Writeback:
    """Starts the disk write of a file as it grows, a stride at a time (Linux; elsewhere a no-op).

    The kernel then writes while the copy goes on, so the final fsync finds little left to do.
    """

    def __init__(self, fd: int, stride: int = COPY_CHUNK) -> None:
        self.fd, self.stride, self.done = fd, stride, 0

    def advance(self) -> None:
        end = os.lseek(self.fd, 0, os.SEEK_CUR)
        if end - self.done >= self.stride:
            start_writeback(self.fd, self.done, end - self.done)
            self.done = end


def copy_range(
    src_fd: int,
    offset: int,
    n: int,
    dst_fd: int,
    progress: Progress | None = None,
    writeback: Writeback | None = None,
) -> None:
    """Copy ``n`` bytes at ``offset`` of ``src_fd`` to the current end of ``dst_fd``.

    In-kernel (``copy_file_range``) where the file systems allow it, else read and write.
    """
    done = 0
    while done < n:
        want = min(COPY_CHUNK, n - done)
        try:
            got = os.copy_file_range(src_fd, dst_fd, want, offset + done)
        except OSError as e:
            if e.errno not in _FALLBACK_ERRNOS:
                raise
            got = _copy_by_read(src_fd, offset + done, want, dst_fd)
        if got == 0:
            raise OutputError(f"source ended early while copying {n} bytes at offset {offset}")
        done += got
        if writeback is not None:
            writeback.advance()
        if progress is not None:
            progress(got)


def _copy_by_read(src_fd: int, offset: int, n: int, dst_fd: int) -> int:
    data = os.pread(src_fd, n, offset)
    view = memoryview(data)
    while view:
        view = view[os.write(dst_fd, view) :]
    return len(data)


def start_writeback(fd: int, offset: int, n: int) -> None:
    """Ask the kernel to start writing these bytes to disk now, without waiting for it."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, n, 2)  # SYNC_FILE_RANGE_WRITE: start, do not wait


FALLOC_FL_KEEP_SIZE = 1  # reserve the blocks; the size still grows only as bytes are written


def preallocate(fd: int, n_bytes: int) -> None:
    """Reserve ``n_bytes`` for a file about to be written: one contiguous extent, and a full disk
    reported before any copying (Linux ``fallocate``; where unsupported, nothing happens)."""
    if _fallocate is not None and n_bytes > 0 and _fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, n_bytes) != 0:
        code = ctypes.get_errno()
        if code == errno.ENOSPC:
            raise OSError(code, os.strerror(code))


def _libc_function(name: str, *argtypes: type) -> Callable[..., int] | None:
    try:
        fn = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = list(argtypes)
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_sync_file_range = _libc_function("sync_file_range", ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
_fallocate = _libc_function("fallocate", ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
