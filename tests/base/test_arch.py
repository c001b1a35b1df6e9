"""Architecture rules on worked examples (pure: metadata dicts, no files)."""

from __future__ import annotations

from typing import Any

import pytest

from rys_gguf.arch import RULES, ArchRule, check_path, read_constraints
from rys_gguf.errors import ArchitectureError
from rys_gguf.plan import parse_plan


def constraints(arch: str, n: int, **kv: Any):  # type: ignore[no-untyped-def]
    meta = {f"{arch}.{k.replace('__', '.')}": v for k, v in kv.items()}
    return read_constraints(arch, n, meta.get)


def check(arch: str, n: int, spec: str, swa_array: bool = False, **kv: Any) -> None:
    c = constraints(arch, n, **kv)
    check_path(c, parse_plan(spec, c.n_layers).path, spec, swa_array=swa_array)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3", "mistral3", "phi3", "deci"])
@pytest.mark.parametrize("spec", ["1,2", "3,8", "0,10", "2,5;1,3"])
def test_plain_families_pass(arch: str, spec: str) -> None:
    check(arch, 10, spec)


@pytest.mark.parametrize(
    ("arch", "period", "kv"),
    [
        ("gemma3", 6, {}),
        ("gemma2", 2, {}),
        ("cohere2", 4, {}),
        ("gpt-oss", 2, {}),
        ("qwen35", 4, {}),
        ("qwen3next", 3, {"full_attention_interval": 3}),
        ("llama4", 4, {}),
        ("llama4", 4, {"interleave_moe_layer_step": 2}),
        ("llama4", 12, {"interleave_moe_layer_step": 3}),
        ("gemma3", 4, {"attention__sliding_window_pattern": 4}),
        ("olmo2", 4, {"attention__sliding_window": 4096}),
    ],
)
def test_periodic_families(arch: str, period: int, kv: dict[str, Any]) -> None:
    n = 36
    assert constraints(arch, n, **kv).period == period
    check(arch, n, f"3,{3 + period}", **kv)
    check(arch, n, f"1,{1 + 2 * period}", **kv)
    if period > 1:
        with pytest.raises(ArchitectureError, match=f"multiple of {period}"):
            check(arch, n, "3,4", **kv)


def test_olmo2_without_sliding_window_is_plain() -> None:
    check("olmo2", 16, "3,4")


def test_swa_override_only_for_swa_families() -> None:
    check("gemma3", 18, "6,9", swa_array=True)
    with pytest.raises(ArchitectureError, match="--write-swa-pattern"):
        check("gemma3", 18, "6,9")
    with pytest.raises(ArchitectureError, match="multiple of 4") as info:
        check("qwen35", 24, "6,9", swa_array=True)  # recurrent layout has no array override here
    assert "--write-swa-pattern" not in str(info.value)


def test_leading_dense_block() -> None:
    check("deepseek2", 20, "5,8", leading_dense_block_count=3)  # after the dense region
    check("deepseek2", 20, "0,2", leading_dense_block_count=3)  # inside it
    with pytest.raises(ArchitectureError, match="straddles the 3 leading dense layers"):
        check("deepseek2", 20, "2,5", leading_dense_block_count=3)


def test_mtp_tail_is_outside_the_plan() -> None:
    c = constraints("glm4moe", 48, nextn_predict_layers=1)
    assert c.n_layers == 47 and c.n_tail == 1
    check_path(c, parse_plan("10,20", 47).path, "10,20")
    with pytest.raises(Exception, match="j must be <= 47"):
        parse_plan("10,48", c.n_layers)


def test_shared_kv_tail() -> None:
    check("gemma4", 30, "5,10", attention__shared_kv_layers=10, attention__sliding_window_pattern=5)
    with pytest.raises(ArchitectureError, match="share KV caches"):
        check("gemma4", 30, "15,25", attention__shared_kv_layers=10, attention__sliding_window_pattern=5)


@pytest.mark.parametrize(
    ("arch", "n", "spec", "phrase"),
    [
        ("gemma3", 48, "10,24", "62 layers"),  # 12B + 14 layers would look like 27B
        ("gemma3", 62, "6,12", "62 layers"),  # 27B itself
        ("gemma2", 42, "10,14", "46 layers"),
        ("exaone4", 40, "16,40", "64 layers"),
        ("deepseek2", 24, "10,12", "DeepSeek-V2-Lite"),
        ("deepseek2", 27, "10,12", "DeepSeek-V2-Lite"),
    ],
)
def test_magic_layer_counts_are_refused(arch: str, n: int, spec: str, phrase: str) -> None:
    with pytest.raises(ArchitectureError, match=phrase):
        check(arch, n, spec)


@pytest.mark.parametrize("arch", ["minimax-01", "gemma3n", "baichuan", "t5", "minicpm3"])
def test_refused_architectures(arch: str) -> None:
    with pytest.raises(ArchitectureError, match=f"{arch} is refused"):
        check(arch, 24, "4,8")


def test_unknown_architecture_needs_flag() -> None:
    c = constraints("brand-new", 12)
    with pytest.raises(ArchitectureError, match="--allow-unknown-arch"):
        check_path(c, parse_plan("2,4", 12).path, "2,4")
    check_path(c, parse_plan("2,4", 12).path, "2,4", allow_unknown=True)


def test_layer_limit() -> None:
    with pytest.raises(ArchitectureError, match="limit of 512"):
        check("llama", 300, "0,250")
    check("llama", 256, "0,256")  # exactly 512


def test_rwkv7_layer0() -> None:
    check("rwkv7", 12, "1,4")
    with pytest.raises(ArchitectureError, match="i >= 1"):
        check("rwkv7", 12, "0,4")


def test_rules_are_data() -> None:
    """Every rule is a consistent record: what the table says is all the code knows."""
    assert RULES["gemma3"].period == 6 and RULES["llama"].period == 1
    for name, r in RULES.items():
        assert r.period >= 1, name
        if r.refuse is not None:  # a refusal says why, and carries no rule that would never apply
            assert r.refuse and r == ArchRule(refuse=r.refuse), name
        if r.period > 1 or r.period_key or r.extra_period_keys:
            assert r.why, f"{name}: a period needs its reason for the error message"
        if r.swa:
            assert r.period_key == "attention.sliding_window_pattern", name
        assert not r.swa_dense_first or r.swa, name
        assert all(1 <= n <= 512 and why for n, why in r.magic_counts.items()), name


def test_minicpm_residual_scale_is_written_out() -> None:
    from rys_gguf.arch import implicit_keys

    assert implicit_keys("minicpm", 40, {}.get) == {"minicpm.residual_scale": pytest.approx(1.4 / 40**0.5)}
    assert implicit_keys("minicpm", 40, {"minicpm.residual_scale": 1.0}.get) == {}
    assert implicit_keys("llama", 40, {}.get) == {}
