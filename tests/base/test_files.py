"""The one copy of each mechanism: output files (files.py) and the format helpers every room uses."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.brokenfiles import write_synthetic
from helpers.tinymodels import TinySpec, write_tiny_model

import rys_gguf.files as files
from rys_gguf.errors import OutputError, RysError
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.gguffile.spec import group_by_layer, layer_tensor_name
from rys_gguf.gguffile.split import split_keys
from rys_gguf.gguffile.writer import GGUFLayout, OutTensor


def test_temp_names_carry_the_pid_and_are_removed_only_when_it_is_dead(tmp_path: Path) -> None:
    dst = tmp_path / "m.gguf"
    assert files.temp_path(dst) == tmp_path / f".m.gguf.partial-{os.getpid()}"
    assert files.temp_path(dst, "work") == tmp_path / f".m.gguf.partial-{os.getpid()}-work"
    dead = 2**22 + 7
    mine = files.temp_path(dst, "work")
    mine.mkdir()
    (tmp_path / f".m.gguf.partial-{dead}-work").mkdir()
    (tmp_path / f".m.gguf.partial-{dead}").write_text("x")
    files.remove_stale_partials(dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name]


def test_write_atomic_replaces_whole_files_and_leaves_nothing_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.json"
    files.write_atomic(path, "one")
    files.write_atomic(path, b"two")
    assert path.read_text() == "two" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    # The caller's fix is for a full disk; other errors get the fix for their errno.
    with pytest.raises(OutputError, match=r"a\.json: cannot write .*; check the path \(the folder must exist\)"):
        files.write_atomic(tmp_path / "missing" / "a.json", "x", fix="fix it")
    full = OSError(errno.ENOSPC, "No space left on device")
    assert str(files.write_error(path, full, "fix it")).endswith("cannot write (No space left on device); fix it")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", interrupted)  # Ctrl-C after the bytes, before the rename
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(path, "three")
    assert path.read_text() == "two" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_staged_renames_all_or_nothing(tmp_path: Path) -> None:
    paths = [tmp_path / "a", tmp_path / "b"]
    with files.staged(paths) as temps:
        for t in temps:
            t.write_text(t.name)
    assert [p.read_text() for p in paths] == [files.temp_path(p).name for p in paths]
    for p in paths:
        p.unlink()
    with pytest.raises(RuntimeError), files.staged(paths) as temps:
        temps[0].write_text("x")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="disk full while writing; nothing was written"), files.staged(paths):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_check_destination(tmp_path: Path) -> None:
    src = tmp_path / "src.gguf"
    src.write_text("x")
    for dst, phrase in [
        (src, "the output is the input file"),
        (tmp_path, "is a folder"),
        (tmp_path / "nope" / "o.gguf", "does not exist; create it first"),
        (src.with_name("link.gguf"), "the output is the input file"),
    ]:
        if dst.name == "link.gguf":
            os.link(src, dst)
        with pytest.raises(OutputError, match=phrase):
            files.check_destination(dst, [src], force=True)
    other = tmp_path / "other.gguf"
    other.write_text("y")
    with pytest.raises(OutputError, match="already exists; pass --force to overwrite it"):
        files.check_destination(other, [src])
    files.check_destination(other, [src], force=True)


def test_free_space_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: SimpleNamespace(total=10, used=0, free=100))
    files.check_free_space(tmp_path, 100, lambda free: "unused")
    with pytest.raises(OutputError, match="need 101, have 100"):
        files.check_free_space(tmp_path, 101, lambda free: f"need 101, have {free}")


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(files.CACHE_ENV, raising=False)
    assert files.cache_dir() == tmp_path / ".cache" / "rys-gguf"
    monkeypatch.setenv(files.CACHE_ENV, "~/elsewhere")
    assert files.cache_dir() == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    ("n", "unit", "text"),
    [
        (1000, None, "0.0 MB"),
        (275_494_336, None, "275.5 MB"),
        (2_016_000_000, None, "2.02 GB"),
        (16e6, "GB", "0.02 GB"),
    ],
)
def test_format_bytes(n: float, unit: str | None, text: str) -> None:
    assert files.format_bytes(n, unit) == text


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_copy_range_copies_exactly_with_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_copy: bool
) -> None:
    src = tmp_path / "src"
    data = os.urandom(3 * (1 << 20) + 17)
    src.write_bytes(data)
    monkeypatch.setattr(files, "COPY_CHUNK", 1 << 20)
    if not kernel_copy:  # e.g. across file systems: the read/write fallback

        def refuse(*args: object) -> int:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", refuse)
    seen: list[int] = []
    with open(src, "rb") as fin, open(tmp_path / "dst", "wb") as fout:
        fout.write(b"head")
        fout.flush()
        files.copy_range(fin.fileno(), 5, len(data) - 5, fout.fileno(), seen.append)
    assert (tmp_path / "dst").read_bytes() == b"head" + data[5:]
    assert sum(seen) == len(data) - 5 and len(seen) == 4


def test_copy_range_refuses_a_short_source(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"12345")
    with (
        open(tmp_path / "src", "rb") as fin,
        open(tmp_path / "dst", "wb") as fout,
        pytest.raises(OutputError, match="source ended early"),
    ):
        files.copy_range(fin.fileno(), 0, 10, fout.fileno())


def test_folder_lock(tmp_path: Path) -> None:
    first = files.try_lock(tmp_path)
    assert first is not None
    assert files.try_lock(tmp_path) is None  # held (flock is per open file, so this is fair)
    first.close()
    again = files.try_lock(tmp_path)
    assert again is not None
    again.close()


# -- the format helpers every room shares ---------------------------------------------------


def test_header_size_is_known_without_encoding(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("qwen2"))
    with GGUFModel(src) as model:
        tensors = [OutTensor(f"renamed.{t.name}", t) for t in model.tensors]
        for alignment in (32, 64, 4096):
            layout = GGUFLayout(3, "<", alignment, [model.raw(k) for k in model.kv], tensors)
            assert layout.n_header_bytes == len(layout.header())


def test_tensors_grouped_by_layer_keep_file_order(tmp_path: Path) -> None:
    src = write_synthetic(tmp_path / "m.gguf", n_layers=3, n_floats=32)
    with GGUFModel(src) as model:
        grouped = group_by_layer(model.tensors)
    assert list(grouped.layers) == [0, 1, 2]
    assert [s for s, _ in grouped.layers[1]] == ["attn_q.weight", "ffn_up.weight"]
    assert [t.name for t in grouped.head] == ["token_embd.weight"] and grouped.tail == []
    assert layer_tensor_name(7, "ffn_up.weight") == "blk.7.ffn_up.weight"


def test_split_keys(tmp_path: Path) -> None:
    assert len(split_keys(3)) == 1 and len(split_keys(0, 5, 99)) == 3
    assert split_keys(0, 5, 99, ">") != split_keys(0, 5, 99, "<")


def test_arrays_without_numpy_equal_the_numpy_values(tmp_path: Path) -> None:
    src = write_tiny_model(tmp_path / "m.gguf", TinySpec("arrays"))
    with GGUFModel(src) as model:
        for key in ("deci.attention.head_count_kv", "deci.feed_forward_length", "tokenizer.ggml.scores"):
            assert model.array(key) == model.value(key).tolist()


# -- the edges users see: their text, new folders, OS errors, temporaries ------------------


def test_read_text_refuses_what_is_not_utf8_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "configs.txt"
    path.write_text("1,2\nčaj 3,4\n", encoding="utf-8")
    assert files.read_text(path) == "1,2\nčaj 3,4\n"
    path.write_bytes("1,2\ncafé\n".encode("latin-1"))
    with pytest.raises(RysError) as info:
        files.read_text(path, "configs file")
    assert str(info.value) == (
        f"{path}:2: the configs file is not UTF-8 text (byte 0xe9 at offset 7); save it as UTF-8 "
        "(e.g. iconv -f latin1 -t utf-8)"
    )
    with pytest.raises(RysError, match=r"cannot read the file \(No such file or directory\); check the path"):
        files.read_text(tmp_path / "nope.txt")


def test_new_folder_removes_only_the_empty_folders_it_made(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    with pytest.raises(RuntimeError), files.new_folder(target) as made:
        assert made == target and target.is_dir()
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []  # a, b and c were made here: all gone
    (tmp_path / "a").mkdir()
    with pytest.raises(KeyboardInterrupt), files.new_folder(target):
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["a"] and list((tmp_path / "a").iterdir()) == []
    with pytest.raises(RuntimeError), files.new_folder(target):
        (target / "kept.json").write_text("{}")  # something landed: kept, and its folders with it
        raise RuntimeError
    assert (target / "kept.json").is_file()
    with files.new_folder(tmp_path / "ok"):
        pass
    assert (tmp_path / "ok").is_dir()  # success keeps the folder, empty or not
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"file/sub: cannot create the folder \(Not a directory\); a part of"):
        files.new_folder(tmp_path / "file" / "sub").__enter__()


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.EEXIST, "remove it or choose another path"),
        (errno.EACCES, "check the permissions"),
        (errno.EPERM, "check the permissions"),
        (errno.EROFS, "read-only: write elsewhere"),
        (errno.ENOSPC, "free some disk space"),
        (errno.ENOTDIR, "is a file, not a folder"),
        (errno.EIO, "the default"),
    ],
)
def test_os_errors_get_a_fix_by_errno(code: int, fix: str) -> None:
    assert fix in files.os_fix(OSError(code, os.strerror(code)), "the default")


def test_write_errors_keep_the_callers_fix_for_a_full_disk_only(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    full, read_only = OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EROFS, "Read-only file system")
    assert str(files.write_error(path, full, "then rerun")).endswith("(No space left on device); then rerun")
    assert str(files.write_error(path, read_only, "then rerun")).endswith("read-only: write elsewhere")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("/d/.m.gguf.partial-123: truncated", "/d/m.gguf: truncated"),
        ("/d/.m.gguf.partial-123-work/model-f16.gguf: bad", "/d/m.gguf: bad"),
        ("cannot open '.x.y.partial-9' (denied)", "cannot open 'x.y' (denied)"),
        ("/d/m.gguf: fine", "/d/m.gguf: fine"),
        ("/d/.hidden.gguf: no temporary", "/d/.hidden.gguf: no temporary"),
    ],
)
def test_temporaries_in_messages_are_named_by_their_output(text: str, shown: str) -> None:
    assert files.public_names(text) == shown
