"""Local lm-eval tasks of every shape lm-eval runs, each a YAML file beside a JSONL data file:
multiple choice, generation scored after a filter list (GSM8K's strict/flexible extraction),
rolling log-likelihood (wikitext's perplexities), and a group of two tasks with its aggregate."""

from __future__ import annotations

import json
from pathlib import Path

MC_DOCS: list[dict[str, object]] = [
    {"q": "Sky?", "c": ["blue", "red"], "a": 0},
    {"q": "Grass?", "c": ["blue", "green"], "a": 1},
    {"q": "Snow?", "c": ["white", "red"], "a": 0},
    {"q": "Sun?", "c": ["black", "yellow"], "a": 1},
    {"q": "Coal?", "c": ["black", "yellow"], "a": 0},
]
MC = (
    'output_type: multiple_choice\ndoc_to_text: "{{q}}"\ndoc_to_choice: "{{c}}"\ndoc_to_target: "{{a}}"\n'
    "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
)
GEN_DOCS: list[dict[str, object]] = [
    {"prompt": "2 + 3 =", "answer": "5"},
    {"prompt": "10 - 4 =", "answer": "6"},
    {"prompt": "3 * 3 =", "answer": "9"},
]
FILTERED = (  # GSM8K's metric and filters
    'output_type: generate_until\ndoc_to_text: "{{prompt}}"\ndoc_to_target: "{{answer}}"\n'
    'generation_kwargs:\n  until: ["\\n"]\n  max_gen_toks: 6\n'
    "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n"
    "filter_list:\n  - name: strict-match\n    filter:\n      - function: regex\n"
    '        regex_pattern: "#### (\\\\-?[0-9\\\\.\\\\,]+)"\n      - function: take_first\n'
    "  - name: flexible-extract\n    filter:\n      - function: regex\n        group_select: -1\n"
    '        regex_pattern: "(-?[$0-9.,]{2,})|(-?[0-9]+)"\n      - function: take_first\n'
)
TEXT_DOCS: list[dict[str, object]] = [
    {"page": "The quick brown fox jumps over the lazy dog."},
    {"page": "A dog sleeps in the sun all day long, and the fox does not."},
    {"page": "Rain falls on the hills; the rivers run to the sea."},
]
ROLLING = (  # wikitext's metrics: aggregation and direction are lm-eval's defaults
    'output_type: loglikelihood_rolling\ndoc_to_text: ""\ndoc_to_target: "{{page}}"\n'
    "metric_list:\n  - metric: word_perplexity\n  - metric: byte_perplexity\n  - metric: bits_per_byte\n"
)


def write_task(folder: Path, name: str, docs: list[dict[str, object]], body: str) -> Path:
    """``folder/name.yaml`` over ``folder/name.jsonl`` (lm-eval's local json dataset)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    path = folder / f"{name}.yaml"
    path.write_text(
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n{body}"
    )
    return path


def write_filtered(folder: Path, name: str = "lm_filtered") -> Path:
    return write_task(folder, name, GEN_DOCS, FILTERED)


def write_rolling(folder: Path, name: str = "lm_rolling") -> Path:
    return write_task(folder, name, TEXT_DOCS, ROLLING)


def write_group(folder: Path, name: str = "lm_group", weight_by_size: bool = True) -> Path:
    """A group of two multiple-choice tasks (2 and 3 items) with a mean accuracy, as MMLU's."""
    write_task(folder, f"{name}_a", MC_DOCS[:2], MC)
    write_task(folder, f"{name}_b", MC_DOCS[2:], MC)
    path = folder / f"{name}.yaml"
    path.write_text(
        f"group: {name}\ntask:\n  - {name}_a\n  - {name}_b\naggregate_metric_list:\n  - metric: acc\n"
        f"    aggregation: mean\n    weight_by_size: {str(weight_by_size).lower()}\n"
    )
    return path


def write_mc(folder: Path, name: str = "lm_mc") -> Path:
    return write_task(folder, name, MC_DOCS, MC)
