"""The llama-cpp-python runner: prompt rendering, batched greedy generation, logits, load errors.

Template rendering and wave grouping are tested as pure functions; the rest loads the real
Gemma 3 270M (the `gemma_path` fixture of conftest.py) and is marked slow; the rolling
log-likelihood (lm-eval's windows) runs on a tiny model.
"""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rys_gguf.errors import RysError, ScanError
from rys_gguf.llama.chat import THINK_SEED, compile_template, render_chat, render_prompt
from rys_gguf.llama.options import RuntimeOptions
from rys_gguf.llama.runner import LoadedModel, open_model

pytestmark = pytest.mark.llama  # the runner is llama.cpp

# Gemma 3's chat template (HF tokenizer_config.json), text-only branch: a system message is
# folded into the first user turn by the template itself.
GEMMA3_TEMPLATE = (
    "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    '{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first_user_prefix = "" -%}'
    "{%- set loop_messages = messages -%}{%- endif -%}{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}{%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{'<start_of_turn>model\\n'}}{%- endif -%}"
)
# Gemma 2's template refuses a system role outright.
GEMMA2_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\\n' "
    "+ message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
# A thinking template that opens the think block itself and reports enable_thinking.
THINKING_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "<|im_start|>assistant\n{% if enable_thinking is defined and not enable_thinking %}[off]"
    "{% endif %}<think>\n"
)
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village,",
    "def fibonacci(n):",
    "The three primary colors are",
    "Water boils at a temperature of",
    "The largest planet in our solar system is",
    "To make a cup of tea, first",
    "Photosynthesis is the process by which",
]


def test_gemma3_template_puts_the_system_text_in_the_user_turn() -> None:
    prompt = render_prompt(GEMMA3_TEMPLATE, "Be brief.", "Hi", bos_token="<bos>")
    assert prompt == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"


def test_system_is_folded_when_the_template_refuses_it() -> None:
    prompt = render_prompt(GEMMA2_TEMPLATE, "Be brief.", "Hi", bos_token="<bos>")
    assert prompt == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
    no_system = render_prompt(GEMMA2_TEMPLATE, None, "Hi", bos_token="<bos>")
    assert no_system == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"


def test_plain_prompt_without_a_template() -> None:
    assert render_prompt(None, "Be brief.", "Hi") == "Be brief.\n\nHi\n"
    assert render_prompt(None, None, "Hi") == "Hi\n"


def test_no_think_prefixes_disables_and_seeds_a_closed_think_block() -> None:
    prompt = render_prompt(THINKING_TEMPLATE, None, "Hi", no_think=True)
    assert prompt == "<|im_start|>user\n/no_think Hi<|im_end|>\n<|im_start|>assistant\n[off]" + THINK_SEED
    assert render_prompt(THINKING_TEMPLATE, None, "Hi").endswith("assistant\n<think>")  # thinking left on


# Jinja features a GGUF template may use: tojson with arguments, HuggingFace's generation tag,
# loop controls, strftime_now, namespace(), and the variables the formatter passes.
FEATURES_TEMPLATE = (
    "{% set ns = namespace(n=0) %}{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}"
    "{% set ns.n = ns.n + 1 %}{{ m | tojson(indent=1, sort_keys=True) }}"
    "{% generation %}[{{ m.content }}]{% endgeneration %}{% if loop.index > 3 %}{% break %}{% endif %}"
    "{% endfor %}{{ ns.n }}|{{ strftime_now('%Y') }}|{{ bos_token }}{{ eos_token }}|{{ tools }}|"
    "{{ add_generation_prompt }}"
)
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are SmolLM<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.mark.parametrize(
    "template", [GEMMA3_TEMPLATE, GEMMA2_TEMPLATE, THINKING_TEMPLATE, FEATURES_TEMPLATE, SMOLLM2_TEMPLATE]
)
def test_render_chat_is_llama_cpp_pythons_formatter(template: str) -> None:
    """The pure-jinja renderer against llama-cpp-python's own, on chats that pass and that raise."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    reference = Jinja2ChatFormatter(template=template, eos_token="</s>", bos_token="<bos>")
    compiled = compile_template(template)
    chats = [
        [{"role": "user", "content": "Hi  "}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        [{"role": "user", "content": 'a"b'}, {"role": "assistant", "content": "ü"}, {"role": "user", "content": "c"}],
        [{"role": "assistant", "content": "out of turn"}],
    ]
    for messages in chats:
        for extra in ({}, {"enable_thinking": False}):
            try:
                want = reference(messages=messages, **extra).prompt  # type: ignore[arg-type]
            except ValueError as e:
                with pytest.raises(ValueError, match=re.escape(str(e))):
                    render_chat(compiled, messages, bos_token="<bos>", eos_token="</s>", **extra)
                continue
            assert render_chat(compiled, messages, bos_token="<bos>", eos_token="</s>", **extra) == want


def test_runtime_options_round_trip_and_validate() -> None:
    options = RuntimeOptions(split_mode="row", tensor_split=(1, 1), n_ctx=4096, no_think=True)
    assert RuntimeOptions(**options.as_dict()) == options
    assert options.as_dict()["tensor_split"] == [1.0, 1.0]
    with pytest.raises(ScanError, match="split-mode"):
        RuntimeOptions(split_mode="tensor")
    with pytest.raises(ScanError, match="tensor-split"):
        RuntimeOptions(tensor_split=(0.0, 0.0))


def test_waves_respect_n_seq_max_and_a_fixed_context() -> None:
    from rys_gguf.llama.batching import group_waves

    assert group_waves([10] * 5, n_seq_max=2) == [[0, 1], [2, 3], [4]]
    assert group_waves([10, 300, 10], n_seq_max=64, n_ctx=1024) == [[0, 1], [2]]
    with pytest.raises(ScanError, match="--n-ctx"):
        group_waves([600], n_seq_max=8, n_ctx=512)


def test_missing_or_broken_file_raises_a_one_line_rys_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(60))
    for path, why in ((tmp_path / "missing.gguf", "no such model file"), (broken, "bad GGUF version: 0")):
        with pytest.raises(RysError) as info, open_model(path, RuntimeOptions()):
            pass
        message = str(info.value)
        assert message.startswith(str(path)) and why in message and "\n" not in message


@pytest.fixture(scope="module")
def gemma(gemma_path: Path) -> Iterator[LoadedModel]:
    with open_model(gemma_path, RuntimeOptions()) as model:
        yield model


@pytest.fixture(scope="module")
def sequential(gemma: LoadedModel) -> list[str]:
    return gemma.generate_sequential(PROMPTS, [8] * len(PROMPTS))


@pytest.fixture(scope="module")
def batched(gemma: LoadedModel) -> list[str]:
    return gemma.generate(PROMPTS, [8] * len(PROMPTS))


@pytest.mark.slow
def test_gemma_loads_with_its_layers_and_no_template(gemma: LoadedModel) -> None:
    assert gemma.n_layers == 18
    assert gemma.chat_template is None  # this GGUF carries no tokenizer.chat_template
    assert gemma.render("Be brief.", "Hi") == "Be brief.\n\nHi\n"


@pytest.mark.slow
def test_generation_is_deterministic(gemma: LoadedModel, batched: list[str]) -> None:
    assert all(batched)
    assert gemma.generate(PROMPTS, [8] * len(PROMPTS)) == batched


@pytest.mark.slow
def test_batch_of_one_equals_create_completion(gemma: LoadedModel, sequential: list[str]) -> None:
    assert [gemma.generate([p], [8])[0] for p in PROMPTS[:4]] == sequential[:4]


@pytest.mark.slow
def test_batched_mostly_equals_sequential(batched: list[str], sequential: list[str]) -> None:
    # llama.cpp's CPU kernels round differently for different batch shapes (up to ~1 logit on
    # this tiny Q4 model), so near-ties can flip; 7 of 8 agree here, a broken batch gives ~0.
    assert sum(b == s for b, s in zip(batched, sequential, strict=True)) >= 6


@pytest.mark.slow
def test_max_tokens_cuts_the_same_greedy_path(gemma: LoadedModel, batched: list[str]) -> None:
    short = gemma.generate(PROMPTS, [4] * len(PROMPTS))  # same batch shapes for 4 rounds
    assert all(s and full.startswith(s) for s, full in zip(short, batched, strict=True))
    assert sum(map(len, short)) < sum(map(len, batched))
    none_one = gemma.generate(PROMPTS[:2], [0, 1])
    assert none_one[0] == "" and 0 < len(none_one[1]) < len(batched[1])


@pytest.mark.slow
def test_stop_strings_end_and_are_trimmed(gemma: LoadedModel, batched: list[str]) -> None:
    full = gemma.generate(PROMPTS[:1], [12])[0]
    stop = full.split()[2]  # a word the model does write
    cut = gemma.generate(PROMPTS[:1], [12], stop=[stop, "never-written"])[0]
    assert cut == full[: full.index(stop)]
    stopped = gemma.generate(PROMPTS, [8] * len(PROMPTS), stop=["\n", "e"])
    assert not any("\n" in s or "e" in s for s in stopped)
    assert sum(map(len, stopped)) < sum(map(len, batched))


@pytest.mark.slow
def test_long_prompts_prefill_in_chunks_and_stay_apart(gemma: LoadedModel) -> None:
    # 3 x 200 tokens: the prefill spans two 512-token batches, one prompt straddling both.
    counts = [", ".join(str(n) for n in range(start, start + 40)) + "," for start in (100, 300, 500)]
    assert sum(len(gemma.tokenize(c)) for c in counts) > 512
    assert gemma.generate(counts, [8] * 3) == [" 140, 14", " 340, 34", " 540, 54"]


@pytest.mark.slow
def test_token_logits_cover_every_position(gemma: LoadedModel) -> None:
    text = "The capital of France is Paris."
    logits = gemma.token_logits(text)
    assert logits.dtype == np.float32
    assert logits.shape == (len(gemma.tokenize(text)), gemma.n_vocab)
    assert np.isfinite(logits).all() and logits.std(axis=1).min() > 0
    assert not np.array_equal(logits[1], logits[2])
    np.testing.assert_array_equal(logits, gemma.token_logits(text))


@pytest.mark.slow
def test_waves_under_a_fixed_context_still_answer(gemma_path: Path) -> None:
    with open_model(gemma_path, RuntimeOptions(n_ctx=512), n_seq_max=3) as model:
        waved = model.generate(PROMPTS[:5], [4] * 5)  # waves of 2 (256 cells each), 2, 1
        assert len(waved) == 5 and all(waved)
        with pytest.raises(ScanError, match="--n-ctx"):
            model.generate(["word " * 600], [8])


def with_chat_template(src: Path, dst: Path, template: str) -> None:
    """Copy a GGUF with tokenizer.chat_template added as its first key.

    The key goes right after the header (magic, version, n_tensors, n_kv); padding the template
    with a Jinja comment makes the entry a multiple of 256 bytes, so the data section stays
    aligned and every tensor offset (relative to it) stays valid.
    """

    def entry(text: str) -> bytes:
        key, value = b"tokenizer.chat_template", text.encode()
        return struct.pack(f"<Q{len(key)}sIQ", len(key), key, 8, len(value)) + value

    size = len(entry(template + "{##}"))
    template += "{#" + " " * (-size % 256) + "#}"
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        magic, version, n_tensors, n_kv = struct.unpack("<4sIQQ", fin.read(24))
        fout.write(struct.pack("<4sIQQ", magic, version, n_tensors, n_kv + 1) + entry(template))
        shutil.copyfileobj(fin, fout, 1 << 22)


@pytest.mark.slow
def test_the_ggufs_chat_template_is_used(gemma_path: Path, tmp_path: Path) -> None:
    templated = tmp_path / "gemma-chat.gguf"
    with_chat_template(gemma_path, templated, GEMMA3_TEMPLATE)
    with open_model(templated, RuntimeOptions()) as model:
        prompt = model.render("Answer in one word.", "What color is the sky?")
        assert prompt.startswith("<start_of_turn>user\nAnswer in one word.\n\nWhat color")
        assert prompt.endswith("<end_of_turn>\n<start_of_turn>model\n")
        answer = model.generate([prompt], [8])[0]
        assert answer and "<start_of_turn>" not in answer


def test_rolling_windows_are_lm_eval_s() -> None:
    from rys_gguf.llama.runner import rolling_windows

    utils = pytest.importorskip("lm_eval.utils")
    for n_tokens in (1, 3, 4, 5, 9, 17):
        tokens = list(range(100, 100 + n_tokens))
        for max_length in (1, 2, 4, 16):
            want = [
                utils.make_disjoint_window(w)
                for w in utils.get_rolling_token_windows(tokens, 1, max_length, context_len=1)
            ]
            got = rolling_windows(tokens, 1, max_length)
            assert got == [(a + b[:-1], b) for a, b in want]  # the model sees context + continuation[:-1]
            assert [t for _, b in got for t in b] == tokens and all(len(a) <= max_length for a, _ in got)


def test_rolling_loglikelihood_scores_every_token_once(tmp_path: Path) -> None:
    from helpers.tinymodels import TinySpec, write_tiny_model

    path = write_tiny_model(tmp_path / "m.gguf", TinySpec("llama", n_layers=2))
    text = "The quick brown fox jumps over the lazy dog; then the dog sleeps in the sun. " * 3
    with open_model(path, RuntimeOptions(n_threads=1)) as model:
        whole = model.loglikelihood("", text)[0]
        assert model.rolling_loglikelihood(text, 10_000) == pytest.approx(whole, abs=1e-4)
        assert model.rolling_loglikelihood(text) == pytest.approx(whole, abs=1e-4)  # fits the trained context
        windowed = model.rolling_loglikelihood(text, 8)  # less context per token: another, finite value
        assert np.isfinite(windowed) and windowed < 0 and windowed != pytest.approx(whole, abs=1e-4)
        assert model.rolling_loglikelihood("") == 0.0
