"""glm-dsa (GLM-5, GLM-5.2): shared sparse-attention indexers keep their source's selection.

In GLM-5.2 a "shared" layer attends to the keys chosen by the last "full"-indexer layer run before
it, by position. Two facts keep every output layer doing what its source did: each position has
its source layer's indexer type (written as ``attention.indexer.types`` when the file relies on
llama.cpp's defaults, which go by index and end after 78 layers), and a shared layer follows its
source predecessor (a block starts at a full-indexer layer). The first tests check the rule on
paths and the written metadata (no llama.cpp); the others run tiny models in llama.cpp.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.tinyglm import TOP_K, TYPES_KEY, GlmSpec, default_indexer_full, source_indexer_full, write_glm_dsa
from helpers.tinymodels import tiny_logits

import rys_gguf.builder.layout
from rys_gguf.arch import GLM_5_2_CONTEXT, check_path, read_constraints, support_table
from rys_gguf.builder.job import build
from rys_gguf.errors import ArchitectureError, GGUFFormatError
from rys_gguf.gguffile.reader import GGUFModel
from rys_gguf.gguffile.spec import ValueType
from rys_gguf.plan import parse_plan

GLM_5_1 = 202752  # GLM-5 and GLM-5.1 context length: every indexer is full
SHARED = "shared sparse-attention indexer"


def constraints(n: int, **kv: Any):  # type: ignore[no-untyped-def]
    meta = {f"glm-dsa.{k.replace('__', '.')}": v for k, v in kv.items()}
    return read_constraints("glm-dsa", n, meta.get)


def check(n: int, spec: str, **kv: Any) -> None:
    c = constraints(n, **kv)
    check_path(c, parse_plan(spec, c.n_layers).path, spec)


# -- the rule on paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["3,6", "3,7", "4,5", "5,9", "layers:0,1,2,4,5"])
def test_glm5_and_glm51_have_only_full_indexers(spec: str) -> None:
    assert constraints(20, context_length=GLM_5_1).indexer_full == ()
    check(20, spec, context_length=GLM_5_1)


def test_glm52_default_types_are_llama_cpps_table() -> None:
    full = constraints(80, context_length=GLM_5_2_CONTEXT).indexer_full
    assert [il for il, f in enumerate(full) if f] == [0, 1, *range(2, 78, 4)]
    assert not full[78] and not full[79]  # the table ends after GLM-5.2's 78 layers
    assert list(full) == default_indexer_full(80)  # the oracle models agree
    assert constraints(20, context_length=GLM_5_2_CONTEXT).describe()["full_indexer_layers"] == [0, 1, 2, 6, 10, 14, 18]


@pytest.mark.parametrize(
    "spec",
    [
        "2,6", "6,10", "6,14", "10,14;10,14",  # whole 4-layer groups (full layer + 3 shared)
        "2,4", "6,7", "1,2", "0,1", "2,3",  # a block may end inside a group
        "6,10;6,8",  # a second block starting at a full layer
        "layers:0,1,2,3,4,5,2,3,6,7", "layers:0,1,2,6,7,8,9",  # explicit paths, one dropping layers
    ],
)  # fmt: skip
def test_blocks_starting_at_a_full_indexer_pass(spec: str) -> None:
    check(20, spec, context_length=GLM_5_2_CONTEXT)


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ("3,7", "output layer 7 would follow layer 6 and reuse the top-k of layer 6"),  # a period-4 block
        ("4,8", "i = 2 or 6"),
        ("5,6", "reuses the top-k keys chosen by layer 2"),
        ("7,11", "i = 6 or 10"),
        ("6,10;7,8", "output layer 12 would follow layer 7"),
        ("layers:0,1,2,4,5", "output layer 3 would follow layer 2"),
        ("layers:3,4,5,6", "output layer 0 would come first and reuse no top-k at all"),
    ],
)
def test_blocks_starting_inside_a_group_are_refused(spec: str, phrase: str) -> None:
    with pytest.raises(ArchitectureError, match=SHARED) as info:
        check(20, spec, context_length=GLM_5_2_CONTEXT)
    assert phrase in str(info.value) and f"config {spec!r} on glm-dsa" in str(info.value)


def test_the_types_array_overrides_the_default() -> None:
    flags = [True, True, False, True, False, False, True, True]
    c = constraints(8, context_length=GLM_5_2_CONTEXT, attention__indexer__types=np.array(flags))
    assert list(c.indexer_full) == flags
    check(8, "3,5", context_length=GLM_5_2_CONTEXT, attention__indexer__types=np.array(flags))
    with pytest.raises(ArchitectureError, match="i = 1 or 3"):
        check(8, "2,5", context_length=GLM_5_2_CONTEXT, attention__indexer__types=np.array(flags))
    for every in ([True] * 8, True):  # all full, as an array or a scalar: no constraint
        assert constraints(8, context_length=GLM_5_2_CONTEXT, attention__indexer__types=every).indexer_full == ()
    assert constraints(8, attention__indexer__types=np.array(flags)).indexer_full  # whatever the context


def test_leading_dense_and_mtp_tail_still_apply() -> None:
    # GLM-5.2's shape: 78 trunk layers, 3 dense, one MTP layer; the types cover the trunk only.
    kv: dict[str, Any] = {"context_length": GLM_5_2_CONTEXT, "leading_dense_block_count": 3}
    c = constraints(79, nextn_predict_layers=1, **kv)
    assert c.n_layers == 78 and c.n_tail == 1 and len(c.indexer_full) == 78
    for spec in ("6,10", "70,78", "0,3", "2,3"):
        check(79, spec, nextn_predict_layers=1, **kv)
    with pytest.raises(ArchitectureError, match="straddles the 3 leading dense layers"):
        check(79, "2,6", nextn_predict_layers=1, **kv)


def test_support_table_states_the_rule() -> None:
    row = next(line for line in support_table().splitlines() if line.startswith("| glm-dsa |"))
    assert "full-indexer layer" in row and "attention.indexer.types" in row


# -- the written metadata -------------------------------------------------------------------------


def _types(path: Path) -> tuple[ValueType | None, list[bool] | None]:
    with GGUFModel(path) as m:
        entry = m.kv.get(TYPES_KEY)
        return (entry.elem_type, [bool(v) for v in m.array(TYPES_KEY)]) if entry else (None, None)


@pytest.mark.parametrize("n_mtp", [0, 1])
def test_default_types_are_written_out_for_the_path(tmp_path: Path, n_mtp: int) -> None:
    spec = GlmSpec(n_mtp=n_mtp)
    src = write_glm_dsa(tmp_path / "src.gguf", spec)
    build(src, tmp_path / "out.gguf", "2,4")
    path = parse_plan("2,4", spec.n_layers).path
    full = source_indexer_full(spec)
    assert _types(tmp_path / "out.gguf") == (ValueType.BOOL, [full[s] for s in path])  # n_layer(): no MTP
    build(src, tmp_path / "same.gguf", "0,0")  # the unchanged model stays byte-exact
    assert (tmp_path / "same.gguf").read_bytes() == src.read_bytes()


def test_a_types_array_is_reindexed_and_glm51_gets_none(tmp_path: Path) -> None:
    flags = (True, True, True, False, True, False, False, True, False, True)
    spec = GlmSpec(n_mtp=1, indexer_types=flags)
    build(write_glm_dsa(tmp_path / "src.gguf", spec), tmp_path / "out.gguf", "4,8")
    assert _types(tmp_path / "out.gguf") == (ValueType.BOOL, [flags[s] for s in parse_plan("4,8", 10).path])
    build(write_glm_dsa(tmp_path / "glm51.gguf", GlmSpec(glm52=False)), tmp_path / "o51.gguf", "3,6")
    assert _types(tmp_path / "o51.gguf") == (None, None)


def test_a_types_array_of_the_wrong_length_is_corrupt(tmp_path: Path) -> None:
    flags = [True, False] * 5 + [True]  # one per layer with the MTP layer: llama.cpp wants n_layer()
    src = write_glm_dsa(tmp_path / "src.gguf", GlmSpec(n_mtp=1), indexer_full=flags)
    with pytest.raises(GGUFFormatError, match="holds 11 flags for 10 layers"):
        build(src, tmp_path / "out.gguf", "2,4")


# -- llama.cpp -------------------------------------------------------------------------------------


def _reference(tmp_path: Path, spec: GlmSpec, config: str) -> np.ndarray:
    """The model written independently: layers along the path, each with its source's type."""
    path = list(parse_plan(config, spec.n_layers).path)
    full = source_indexer_full(spec)
    oracle = write_glm_dsa(tmp_path / "oracle.gguf", spec, path, indexer_full=[full[s] for s in path])
    return tiny_logits(oracle)


@pytest.mark.llama
def test_tiny_glm_dsa_runs_and_its_indexers_matter(tmp_path: Path) -> None:
    spec = GlmSpec()
    plain = tiny_logits(write_glm_dsa(tmp_path / "glm52.gguf", spec))
    assert plain.shape[0] > 10 * TOP_K and np.isfinite(plain).all() and np.ptp(plain[-1]) > 1.0  # prompt >> top-k
    all_full = tiny_logits(write_glm_dsa(tmp_path / "full.gguf", spec, indexer_full=[True] * 10))
    assert np.abs(plain - all_full).max() > 0.5  # shared layers change what the model computes
    glm51 = tiny_logits(write_glm_dsa(tmp_path / "glm51.gguf", replace(spec, glm52=False)))
    assert np.array_equal(glm51, all_full)  # GLM-5/5.1: every indexer is full
    with_array = tiny_logits(write_glm_dsa(tmp_path / "array.gguf", spec, indexer_full=default_indexer_full(10)))
    with_mtp = tiny_logits(write_glm_dsa(tmp_path / "mtp.gguf", replace(spec, n_mtp=1)))
    assert np.array_equal(with_array, plain) and np.array_equal(with_mtp, plain)


ALLOWED = [
    (GlmSpec(), "2,6"),  # a whole group
    (GlmSpec(), "2,4"),  # ends inside a group: fine, but the index-based defaults would be wrong
    (GlmSpec(), "1,2"),
    (GlmSpec(n_mtp=1), "6,10;6,8"),
    (GlmSpec(n_mtp=1, indexer_types=(True, True, False, True, False, False, True, True, False, False)), "3,7"),
    (GlmSpec(shared_indexer_weights=False), "2,6"),  # as converted from the official checkpoint
    (GlmSpec(glm52=False), "3,6"),
    (GlmSpec(n_layers=78, n_lead=3, n_mtp=1), "6,10"),  # GLM-5.2's shape: the default table ends at 78
    (GlmSpec(n_layers=78, n_lead=3, n_mtp=1), "70,78"),
]


@pytest.mark.llama
@pytest.mark.parametrize(("spec", "config"), ALLOWED)
def test_allowed_configs_match_independent_model(tmp_path: Path, spec: GlmSpec, config: str) -> None:
    src = write_glm_dsa(tmp_path / "src.gguf", spec)
    result = build(src, tmp_path / "rys.gguf", config)
    assert result.n_layers_out == len(parse_plan(config, spec.n_layers).path) + spec.n_mtp
    assert np.array_equal(tiny_logits(tmp_path / "rys.gguf"), _reference(tmp_path, spec, config))


@pytest.mark.llama
@pytest.mark.parametrize(
    ("spec", "config"), [(GlmSpec(), "2,4"), (GlmSpec(), "1,2"), (GlmSpec(n_layers=78, n_lead=3), "6,10")]
)
def test_without_written_types_the_defaults_go_wrong(tmp_path: Path, spec: GlmSpec, config: str) -> None:
    """What a plain rewrite gave: the same layers, no types array, llama.cpp's defaults by index."""
    naive = write_glm_dsa(tmp_path / "naive.gguf", spec, parse_plan(config, spec.n_layers).path)
    assert np.abs(tiny_logits(naive) - _reference(tmp_path, spec, config)).max() > 0.1


# Layer 6 adds nothing to the residual stream and leads no shared layer: its indexer is dead
# weight in the source, so no faithful rewrite may depend on it.
DEAD = GlmSpec(indexer_types=(True, True, True, False, False, False, True, True, True, True), silent=frozenset({6}))


@pytest.mark.llama
def test_refused_config_would_reuse_another_groups_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    redrawn = replace(DEAD, redrawn=frozenset({6}))
    src, other = write_glm_dsa(tmp_path / "a.gguf", DEAD), write_glm_dsa(tmp_path / "b.gguf", redrawn)
    assert np.array_equal(tiny_logits(src), tiny_logits(other))  # layer 6's indexer is dead here

    build(src, tmp_path / "ok-a.gguf", "2,6")
    build(other, tmp_path / "ok-b.gguf", "2,6")
    assert np.array_equal(tiny_logits(tmp_path / "ok-a.gguf"), tiny_logits(tmp_path / "ok-b.gguf"))

    # 3,7 keeps the period of 4, but layer 3 (shared, group of layer 2) would follow layer 6.
    with pytest.raises(ArchitectureError, match="output layer 7 would follow layer 6") as info:
        build(src, tmp_path / "bad.gguf", "3,7")
    assert "Start each block at a layer with a full indexer (i = 2 or 6" in str(info.value)
    assert not (tmp_path / "bad.gguf").exists()

    monkeypatch.setattr(rys_gguf.builder.layout, "check_path", lambda *args, **kwargs: None)
    build(src, tmp_path / "bad-a.gguf", "3,7")
    build(other, tmp_path / "bad-b.gguf", "3,7")
    gap = np.abs(tiny_logits(tmp_path / "bad-a.gguf") - tiny_logits(tmp_path / "bad-b.gguf")).max()
    assert gap > 0.1  # layers 3, 4, 5 of the second pass attend where layer 6's indexer points
    # Each position has its source's type already: the types alone cannot make this path faithful.
    path = parse_plan("3,7", 10).path
    assert _types(tmp_path / "bad-a.gguf")[1] == [source_indexer_full(DEAD)[s] for s in path]
