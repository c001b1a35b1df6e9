"""EQ probe: the EQ-Bench v2 formula and parse rule, the ng scorer, item files, probe sets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from rys_gguf.errors import ProbeError
from rys_gguf.files import cache_dir
from rys_gguf.probes import ProbeSet, load_probe_set
from rys_gguf.probes import eqbench as eqbench_mod
from rys_gguf.probes.eq import (
    first_pass_prompt,
    parse_eq_items,
    read_eq_items,
    scale_difference,
    score_ng,
    score_v2,
)
from rys_gguf.probes.eqbench import FILENAME, SHA256, fetch_eqbench_v2

# The EQ-Bench v2 file is not committed: $RYS_EQBENCH_V2_FILE names a local copy, else the one
# `fetch_eqbench_v2` cached (under $RYS_CACHE_DIR) serves.
SHARED_V2 = Path(os.environ.get("RYS_EQBENCH_V2_FILE") or cache_dir() / FILENAME)
needs_v2_file = pytest.mark.skipif(
    not SHARED_V2.is_file(),
    reason="the EQ-Bench v2 file is not committed: set RYS_EQBENCH_V2_FILE or fetch it into the cache",
)

# EQ-Bench v2 items 1 and 2 (EQ-bench/EQ-Bench, MIT): their reference_answer_fullscale and
# reference_answer, copied so these tests run without the file. Fullscale scores are strings
# in the file, as here.
V2_ITEM1_FULL = {
    "emotion1": "Remorseful", "emotion2": "Indifferent", "emotion3": "Affectionate",
    "emotion4": "Annoyed", "emotion1_score": 0, "emotion2_score": "6", "emotion3_score": 0,
    "emotion4_score": "7",
}  # fmt: skip
V2_ITEM1_SUM10 = {
    "emotion1": "Remorseful", "emotion2": "Indifferent", "emotion3": "Affectionate",
    "emotion4": "Annoyed", "emotion1_score": 2, "emotion2_score": 3, "emotion3_score": 0,
    "emotion4_score": 5,
}  # fmt: skip
V2_ITEM2_FULL = {
    "emotion1": "Sympathetic", "emotion2": "Incredulous", "emotion3": "Intimidated",
    "emotion4": "Defensive", "emotion1_score": 0, "emotion2_score": "8", "emotion3_score": "3",
    "emotion4_score": "7",
}  # fmt: skip


@needs_v2_file
def test_embedded_references_match_the_v2_file() -> None:
    data = json.loads(SHARED_V2.read_text())
    assert data["1"]["reference_answer_fullscale"] == V2_ITEM1_FULL
    assert data["1"]["reference_answer"] == V2_ITEM1_SUM10
    assert data["2"]["reference_answer_fullscale"] == V2_ITEM2_FULL
    assert eqbench_mod.sha256_of(SHARED_V2.read_bytes()) == SHA256


# EQ-Bench v2's penalty s(d) = 6.5 / (1 + e^(-1.2 (d - 4))) for 0 < d <= 5, else d, worked by hand:
# s(1)=0.173, s(2)=0.541, s(3)=1.505, s(4)=3.25, s(5)=4.995, s(6)=6.
@pytest.mark.parametrize(
    ("d", "s"),
    [(0, 0.0), (1, 0.173), (2, 0.541), (3, 1.505), (4, 3.25), (5, 4.995), (6, 6.0), (10, 10.0)],
)
def test_scale_difference_worked_values(d: int, s: float) -> None:
    assert round(scale_difference(d), 3) == s


def test_scale_difference_is_continuous_enough_and_monotone() -> None:
    values = [scale_difference(x / 10) for x in range(0, 101)]
    assert values == sorted(values)
    assert scale_difference(0.5) > 0


ITEM1_PERFECT = "Remorseful: 0\nIndifferent: 6\nAffectionate: 0\nAnnoyed: 7"

# (answer text, reference, expected q); None = unparseable. Hand-written answers to real items.
V2_TABLE: list[tuple[str, dict[str, Any], float | None]] = [
    (ITEM1_PERFECT, V2_ITEM1_FULL, 10.0),
    # Names decide, not order.
    ("Annoyed: 7\nRemorseful: 0\nAffectionate: 0\nIndifferent: 6", V2_ITEM1_FULL, 10.0),
    # d = 2, 1, 0, 2 -> 10 - 0.7477 * (0.5406 + 0.1729 + 0 + 0.5406)
    ("Remorseful: 2\nIndifferent: 5\nAffectionate: 0\nAnnoyed: 9", V2_ITEM1_FULL, 9.0623),
    # d = 10, 6, 10, 7 -> s(d) = d above 5 -> 10 - 0.7477 * 33 (scores are not clipped)
    ("Remorseful: 10\nIndifferent: 0\nAffectionate: 10\nAnnoyed: 0", V2_ITEM1_FULL, -14.6741),
    # d = 1, 4, 0, 0 -> 10 - 0.7477 * (0.1729 + 3.25)
    ("Sympathetic: 1\nIncredulous: 4\nIntimidated: 3\nDefensive: 7", V2_ITEM2_FULL, 7.4407),
    # d = 5, 0, 5, 0 -> 10 - 0.7477 * 2 * 4.9954
    ("Sympathetic: 5\nIncredulous: 8\nIntimidated: 8\nDefensive: 7", V2_ITEM2_FULL, 2.5299),
    # Headings, prose and the prompt's own words around the pairs do not matter.
    ("First pass scores:\n" + ITEM1_PERFECT + "\n[End of answer]", V2_ITEM1_FULL, 10.0),
    ("Sure! Here you go.\n" + ITEM1_PERFECT + "\nHope that helps.", V2_ITEM1_FULL, 10.0),
    # Decimals: the integer part is read (\d+), like EQ-Bench.
    ("Remorseful: 0\nIndifferent: 6.9\nAffectionate: 0\nAnnoyed: 7", V2_ITEM1_FULL, 10.0),
    # A later duplicate overwrites the earlier one.
    ("Annoyed: 2\n" + ITEM1_PERFECT, V2_ITEM1_FULL, 10.0),
    # Thinking is stripped first.
    ("<think>Remorseful: 9\nAnnoyed: 1</think>\n" + ITEM1_PERFECT, V2_ITEM1_FULL, 10.0),
    # Unparseable cases of the official rule.
    (
        "**Remorseful:** 0\n**Indifferent:** 6\n**Affectionate:** 0\n**Annoyed:** 7",
        V2_ITEM1_FULL,
        None,
    ),
    ("remorseful: 0\nindifferent: 6\naffectionate: 0\nannoyed: 7", V2_ITEM1_FULL, None),
    ("Remorseful:0\nIndifferent: 6\nAffectionate: 0\nAnnoyed: 7", V2_ITEM1_FULL, None),
    ("Remorseful: 0\nIndifferent: 6\nAnnoyed: 7", V2_ITEM1_FULL, None),
    (ITEM1_PERFECT + "\nConfidence: 9", V2_ITEM1_FULL, None),
    ("Remorseful: 0\nIndifferent: 6\nAffectionate: 0\nIrritated: 7", V2_ITEM1_FULL, None),
    (ITEM1_PERFECT, V2_ITEM2_FULL, None),
    ("<think>" + ITEM1_PERFECT, V2_ITEM1_FULL, None),
    ("", V2_ITEM1_FULL, None),
]


@pytest.mark.parametrize(("answer", "reference", "q"), V2_TABLE)
def test_score_v2_table(answer: str, reference: dict[str, Any], q: float | None) -> None:
    got = score_v2(answer, reference)
    if q is None:
        assert got is None
    else:
        assert got is not None and round(got, 4) == q


# ng scorer against item 1's sum-to-10 reference (2, 3, 0, 5).
NG_TABLE = [
    # first-pass section only: confidence 0.8 -> 0.8 * 1 + 0.2 * 0.5
    ("First pass scores:\nRemorseful: 2\nIndifferent: 3\nAffectionate: 0\nAnnoyed: 5", 0.9, 0.8),
    # both sections, predictions averaged (3, 3, 0, 5): raw = 1 - 1/40
    (
        "First pass scores:\nA: 2\nB: 3\nC: 0\nD: 5\nCritique: fine\n"
        "Revised scores:\nA: 4\nB: 3\nC: 0\nD: 5\n[End of answer]",
        0.975,
        1.0,
    ),
    (
        "Revised scores:\n1. Remorseful: 2\n2. Indifferent: 3\n3. Affectionate: 0\n4. Annoyed: 5",
        0.95,
        0.9,
    ),
    # names are ignored, order counts
    ("First pass scores:\nJoy: 2\nFear: 3\nHope: 0\nRage: 5", 0.9, 0.8),
    # out-of-range value dropped, padded with 5: (3, 0, 5, 5) -> diff 9 -> 0.8 * 0.775 + 0.1
    ("First pass scores:\nRemorseful: 12\nIndifferent: 3\nAffectionate: 0\nAnnoyed: 5", 0.72, 0.8),
    # fallback, four numbers: confidence 0.5
    ("I'd say 2, 3, 0 and 5.", 0.75, 0.5),
    # fallback, two numbers (2, 5, 5, 5): raw = 1 - 7/40; confidence 2/8
    ("Remorseful 2 Annoyed 5", 0.25 * 0.825 + 0.75 * 0.5, 0.25),
    ("I cannot answer that.", 0.5, 0.0),
    ("<think>2 3 0 5</think>", 0.5, 0.0),
]


@pytest.mark.parametrize(("answer", "score", "confidence"), NG_TABLE)
def test_score_ng_table(answer: str, score: float, confidence: float) -> None:
    got, got_confidence = score_ng(answer, V2_ITEM1_SUM10)
    assert got == pytest.approx(score, abs=1e-9)
    assert got_confidence == confidence


@needs_v2_file
def test_first_pass_prompt_on_a_real_item() -> None:
    prompt = json.loads(SHARED_V2.read_text())["1"]["prompt"]
    out = first_pass_prompt(prompt)
    assert out.endswith(
        "Annoyed: <score>\n\n\n[End of answer]\n\nRemember: zero is a valid score, meaning they "
        "are likely not feeling that emotion. You must score at least one emotion > 0.\n"
        "\nYour answer:\n"
    )
    assert "feeling each.\n\nYou must output" in out
    for gone in ("Critique", "Revised scores", "First pass scores", "revised score"):
        assert gone not in out
    ng = first_pass_prompt(prompt, keep_heading=True)
    assert "commentary:\n\nFirst pass scores:\nRemorseful: <score>\n" in ng
    assert "Critique" not in ng
    assert first_pass_prompt(out) == out  # an already first-pass prompt is left alone


# --- built-in items ----------------------------------------------------------------------------


def _builtin() -> dict[str, Any]:
    path = Path(__file__).resolve().parents[2] / "rys_gguf" / "probes" / "data" / "eq_builtin.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_builtin_items_are_well_formed() -> None:
    data = _builtin()
    assert len(data) >= 16
    assert len(parse_eq_items(data, "builtin")) == len(data)
    tuples = set()
    for key, item in data.items():
        full, scaled = item["reference_answer_fullscale"], item["reference_answer"]
        names = [full[f"emotion{i}"] for i in range(1, 5)]
        scores = [full[f"emotion{i}_score"] for i in range(1, 5)]
        assert all(isinstance(s, int) and 0 <= s <= 10 for s in scores), key
        assert max(scores) > 0, key
        assert names == [scaled[f"emotion{i}"] for i in range(1, 5)], key
        scaled_scores = [scaled[f"emotion{i}_score"] for i in range(1, 5)]
        assert sum(scaled_scores) == pytest.approx(10, abs=0.02), key
        for s, t in zip(scores, scaled_scores, strict=True):
            assert t == pytest.approx(s * 10 / sum(scores), abs=0.0051), key
        assert "would feel...\n" + "\n".join(names) + "\n\n" in item["prompt"], key
        assert "[End dialogue]" in item["prompt"]
        tuples.add(tuple(names))
        # The reference answer itself must score 10 with the official rule.
        perfect = "\n".join(f"{n}: {s}" for n, s in zip(names, scores, strict=True))
        assert score_v2(perfect, full) == 10.0
    assert len(tuples) == len(data)


@needs_v2_file
def test_builtin_dialogues_are_not_taken_from_eqbench() -> None:
    v2_text = SHARED_V2.read_text()
    for item in _builtin().values():
        dialogue = item["prompt"].split("dialogue:\n\n")[1].split("\n[End dialogue]")[0]
        for line in dialogue.splitlines():
            assert json.dumps(line.split(": ", 1)[1])[1:-1] not in v2_text


# --- item files ----------------------------------------------------------------------------------


def _good_item() -> dict[str, Any]:
    return {"prompt": "Who feels what?", "reference_answer_fullscale": dict(V2_ITEM1_FULL)}


def _with(path: list[str], value: Any) -> dict[str, Any]:
    item = _good_item()
    target: Any = item
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return {"7": item}


FS = "reference_answer_fullscale"
MALFORMED = [
    ("not json {", r"is not valid JSON \(line 1\)"),
    ("[]", r"expected a non-empty JSON object"),
    ("{}", r"expected a non-empty JSON object"),
    (json.dumps({"7": "text"}), r"item '7' is not an object"),
    (json.dumps(_with(["prompt"], ...)), r"item '7': 'prompt' is missing"),
    (json.dumps(_with([FS], ...)), rf"item '7': '{FS}' is missing"),
    (
        json.dumps(_with([FS, "emotion2_score"], 11)),
        rf"'7': {FS}.emotion2_score=11 is outside 0-10",
    ),
    (json.dumps(_with([FS, "emotion2_score"], "-1")), r"'7': .*emotion2_score='-1' is outside"),
    (json.dumps(_with([FS, "emotion3_score"], "high")), r"'7': .*emotion3_score must be a number"),
    (json.dumps(_with([FS, "emotion3_score"], True)), r"'7': .*emotion3_score must be a number"),
    (json.dumps(_with([FS, "emotion4_score"], ...)), r"'7': .*emotion4_score must be a number"),
    (json.dumps(_with([FS, "emotion1"], "Very angry")), r"'7': .*emotion1 must be a single word"),
    (json.dumps(_with([FS, "emotion2"], "Remorseful")), r"item '7': .*repeats an emotion"),
    (
        json.dumps(_with(["reference_answer"], {"emotion1": "A"})),
        r"item '7': reference_answer.emotion1_score must be a number",
    ),
]


@pytest.mark.parametrize(("content", "message"), MALFORMED)
def test_malformed_files_name_file_and_item(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "my_eq.json"
    path.write_text(content)
    with pytest.raises(ProbeError, match=message) as info:
        read_eq_items(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_malformed_file_through_load_probe_set(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_with(["reference_answer_fullscale", "emotion2_score"], 42)))
    with pytest.raises(ProbeError, match=r"bad\.json: item '7'"):
        load_probe_set(eq=str(path))


def test_local_file_gets_file_ids(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"a": _good_item(), "b": _good_item()}))
    ps = load_probe_set(math="none", eq=str(path))
    assert [i.id for i in ps.items] == ["eq-file-a", "eq-file-b"]
    assert ps.description["eq"] == "file:mine.json"
    assert ps.items[0].user == "Who feels what?"  # no revision block to remove


# --- the v2 download and cache ---------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@needs_v2_file
def test_eqbench_v2_from_cache(tmp_path: Path, no_network: None) -> None:
    shutil.copy(SHARED_V2, tmp_path / FILENAME)
    ps = load_probe_set(math="none", eq="eqbench-v2", cache_dir=tmp_path)
    assert len(ps.items) == 171
    assert ps.items[11].id == "eq-v2-12"
    assert ps.items[0].user.endswith("\nYour answer:\n")
    assert ps.description == {
        "math": "none", "eq": "eqbench-v2-171", "eq_scorer": "eqbench-v2",
        "n_math": 0, "n_eq": 171, "seed": 0,
    }  # fmt: skip
    sixteen = load_probe_set(eq="eqbench-v2", n_eq=16, cache_dir=tmp_path)
    assert [i.id for i in sixteen.items if i.probe == "eq"][-1] == "eq-v2-16"


@needs_v2_file
def test_eqbench_v2_cache_dir_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    shutil.copy(SHARED_V2, tmp_path / FILENAME)
    monkeypatch.setenv("RYS_CACHE_DIR", str(tmp_path))
    assert fetch_eqbench_v2() == tmp_path / FILENAME


@needs_v2_file
def test_local_copy_of_v2_counts_as_v2(tmp_path: Path) -> None:
    ps = load_probe_set(math="none", eq=str(SHARED_V2), n_eq=3)
    assert [i.id for i in ps.items] == ["eq-v2-1", "eq-v2-2", "eq-v2-3"]
    assert ps.description["eq"] == "eqbench-v2-3"


@needs_v2_file
def test_download_writes_the_cache_atomically(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "nested"
    (cache.parent).mkdir()
    path = fetch_eqbench_v2(cache, url=SHARED_V2.as_uri())
    assert path == cache / FILENAME
    assert path.read_bytes() == SHARED_V2.read_bytes()
    assert [p.name for p in cache.iterdir()] == [FILENAME]


@needs_v2_file
def test_corrupt_cache_is_downloaded_again(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_text("{}")
    path = fetch_eqbench_v2(tmp_path, url=SHARED_V2.as_uri())
    assert eqbench_mod.sha256_of(path.read_bytes()) == SHA256


def test_wrong_hash_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "fake.json"
    fake.write_text('{"1": {}}')
    cache = tmp_path / "cache"
    with pytest.raises(ProbeError, match=r"sha256 .* expected b4e9bf11.*--eq-set PATH") as info:
        fetch_eqbench_v2(cache, url=fake.as_uri())
    assert "\n" not in str(info.value)
    assert not (cache / FILENAME).exists()


def test_unreachable_network_says_how_to_use_a_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(ProbeError, match=r"cannot download .*name resolution.*--eq-set PATH") as info:
        load_probe_set(eq="eqbench-v2", cache_dir=tmp_path)
    assert "\n" not in str(info.value)


# --- probe sets ------------------------------------------------------------------------


def test_default_probe_set() -> None:
    ps = load_probe_set()
    assert ps.description == {
        "math": "search16", "eq": "builtin16", "eq_scorer": "eqbench-v2",
        "n_math": 16, "n_eq": 16, "seed": 0,
    }  # fmt: skip
    ids = [i.id for i in ps.items]
    assert ids[0] == "math-s00" and ids[16] == "eq-builtin-01" and ids[-1] == "eq-builtin-16"
    math_item, eq_item = ps.items[0], ps.items[16]
    assert math_item.system and math_item.max_tokens == 64 and math_item.expected is not None
    assert eq_item.system is None and eq_item.max_tokens == 80 and eq_item.reference is not None
    assert eq_item.user.endswith("\nYour answer:\n") and "Critique" not in eq_item.user


def test_hash_tracks_items_scorer_and_seed() -> None:
    base = load_probe_set()
    assert len(base.hash) == 64 and base.hash == load_probe_set().hash
    others = {
        load_probe_set(seed=1).hash,
        load_probe_set(eq_scorer="ng").hash,
        load_probe_set(n_eq=15).hash,
        load_probe_set(math="validation").hash,
        load_probe_set(eq="none").hash,
    }
    assert base.hash not in others and len(others) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"math": "hard"}, "unknown math set 'hard'"),
        ({"eq": "nonexistent.json"}, "is not 'builtin', 'validation', 'eqbench-v2', 'none' or an existing"),
        ({"eq_scorer": "v3"}, "unknown EQ scorer 'v3'"),
        ({"math": "none", "eq": "none"}, "nothing to probe"),
        ({"n_eq": 0}, "n_eq=0 is out of range"),
        ({"n_eq": 17}, "n_eq=17 is out of range: the EQ set builtin has 16 items"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ProbeError, match=message):
        load_probe_set(**kwargs)


def _perfect_answers(ps: ProbeSet) -> list[str]:
    answers = []
    for item in ps.items:
        if item.probe == "math":
            answers.append(str(item.expected))
        else:
            assert item.reference is not None
            full = item.reference["reference_answer_fullscale"]
            pairs = [(full[f"emotion{i}"], full[f"emotion{i}_score"]) for i in range(1, 5)]
            answers.append("\n".join(f"{name}: {score}" for name, score in pairs))
    return answers


def test_scores_of_perfect_and_garbage_answers() -> None:
    ps = load_probe_set()
    best = ps.score(_perfect_answers(ps))
    assert (best.math, best.eq) == (1.0, 1.0)
    assert (best.math_parse_rate, best.eq_parse_rate) == (1.0, 1.0)
    assert len(best.items["math"]) == 16 and len(best.items["eq"]) == 16
    worst = ps.score(["I don't know."] * len(ps.items))
    assert (worst.math, worst.eq) == (0.0, 0.0)
    assert (worst.math_parse_rate, worst.eq_parse_rate) == (0.0, 0.0)
    assert worst.items["eq"] == [None] * 16 and worst.items["math"] == [0.0] * 16


def test_eqbench_v2_mean_excludes_unparseable_items() -> None:
    ps = load_probe_set(math="none", n_eq=4)
    answers = _perfect_answers(ps)
    answers[1] = "no idea"
    full = ps.items[2].reference["reference_answer_fullscale"]  # type: ignore[index]
    answers[2] = "\n".join(f"{full[f'emotion{i}']}: 10" for i in range(1, 5))
    q2 = score_v2(answers[2], full)
    assert q2 is not None
    result = ps.score(answers)
    assert result.items["eq"] == [1.0, None, pytest.approx(q2 / 10), 1.0]
    assert result.eq == pytest.approx((1.0 + q2 / 10 + 1.0) / 3)
    assert result.eq_parse_rate == 0.75
    assert result.math_parse_rate == 1.0 and result.math == 0.0 and result.items["math"] == []


def test_ng_scorer_on_a_probe_set() -> None:
    ps = load_probe_set(math="none", eq_scorer="ng", n_eq=2)
    assert "First pass scores:\n" in ps.items[0].user
    ref = ps.items[0].reference["reference_answer"]  # type: ignore[index]
    exact = "First pass scores:\n" + "\n".join(f"x: {ref[f'emotion{i}_score']}" for i in range(1, 5))
    result = ps.score([exact, "nothing"])
    assert result.items["eq"] == [pytest.approx(0.9), 0.5]
    assert result.eq == pytest.approx(0.7)
    assert result.eq_parse_rate == 0.5


def test_score_needs_one_answer_per_item() -> None:
    ps = load_probe_set()
    with pytest.raises(ProbeError, match="got 3 answers for a probe set of 32 items"):
        ps.score(["1", "2", "3"])


def test_math_parse_rate_counts_answers_with_an_integer() -> None:
    ps = load_probe_set(eq="none")
    answers = ["42"] * 8 + ["no"] * 8
    assert ps.score(answers).math_parse_rate == 0.5


@pytest.mark.procs
def test_probes_never_import_llama_cpp() -> None:
    package = Path(__file__).resolve().parents[2] / "rys_gguf" / "probes"
    for source in package.glob("*.py"):
        assert "llama_cpp" not in source.read_text(), source
    code = "import sys, rys_gguf.probes; sys.exit('llama_cpp' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], cwd=package.parent.parent, check=False)
    assert run.returncode == 0
