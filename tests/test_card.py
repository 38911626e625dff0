"""The dataset card of `export --format hf`: the Hub's own parser reads its metadata, datasets loads
the export through its configs, the run's facts are in it, and task text cannot break it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from selfinstruct.card import HUB_FILES, LOCAL_FILES, dataset_card
from selfinstruct.export import export_run, rows
from selfinstruct.report.load import load_run

from runfixture import FAKE_SECRET, URL_PASSWORD, XSS_INSTRUCTION, cached_run
from test_export import check_flat, expected

HOSTILE = "---\nlicense: mit\n# Owned\n| a | b |\n```\n<script>alert(1)</script> *x* [l](javascript:1)"


@pytest.fixture
def run(tmp_path, public_seeds) -> Path:
    return cached_run(tmp_path / "root", public_seeds)


def load_card(path: Path):
    from huggingface_hub import DatasetCard

    return DatasetCard.load(path / "README.md")  # a file path: read locally, no Hub call


def check_metadata(data: dict) -> None:
    """What card.validate() would ask the Hub (it needs the network): the fields parse as the Hub's
    DatasetCardData, datasets reads the configs, the size category is one datasets knows."""
    import datasets
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    card_data = DatasetCardData(**data)
    assert card_data.to_dict() == data
    assert set(MetadataConfigs.from_dataset_card_data(card_data)) == {"default"}
    known = json.loads((Path(datasets.__file__).parent / "utils/resources/size_categories.json").read_text())
    assert set(data["size_categories"]) <= set(known)
    assert data["license"] == "apache-2.0" and data["task_categories"] == ["text-generation"]


def markdown(text: str):
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")  # commonmark passes raw HTML through: nothing may reach it
    return md.render(text), md.parse(text)


def test_card_loads_and_its_configs_are_what_load_dataset_reads(run, tmp_path):
    import datasets

    path = export_run(run, "hf")
    card = load_card(path)
    check_metadata(card.data.to_dict())
    assert card.data.configs == [{"config_name": "default", "data_files": [{"split": "train", "path": LOCAL_FILES}]}]
    want = expected(run)
    assert card.data.size_categories == ["n<1K"] and len(want) < 1000
    check_flat(datasets.load_dataset(str(path), cache_dir=str(tmp_path / "c"))["train"], want)
    check_flat(datasets.load_from_disk(str(path))["train"], want)
    # The card decides: pointed elsewhere, the same folder no longer loads.
    moved = tmp_path / "moved"
    shutil.copytree(path, moved)
    (moved / "README.md").write_text((moved / "README.md").read_text().replace(LOCAL_FILES, "nowhere/*.arrow"))
    with pytest.raises(FileNotFoundError, match=r"No \(supported\) data files"):
        datasets.load_dataset(str(moved), cache_dir=str(tmp_path / "c2"))


def test_card_states_the_runs_facts(run):
    path = export_run(run, "hf")
    text = (path / "README.md").read_text()
    data = load_run(run)
    assert data.manifest["seeds_sha256"] in text
    for r in data.rounds:
        s = r.stats
        assert f"| round {r.n} | {s.prompts} | {s.proposed} | {s.candidates} | {s.accepted} |" in text
    near = sum(r.stats.rejected.get("near_duplicate", 0) for r in data.rounds)
    line = next(x for x in text.splitlines() if x.startswith("| near\\_duplicate |"))
    assert near and line.endswith(f"| {near} |")
    assert "| filter.novelty.threshold | 0.85 |" in text and "| filter.quality.min\\_words | 4 |" in text
    a = data.audit["all_valid"]
    share = f"{a['share']:.0%} | {a['ci95'][0]:.0%} to {a['ci95'][1]:.0%}"
    assert f"| all valid | {a['valid']} | {data.audit['tasks']} | {share} |" in text
    r1 = data.eval_rows[1]
    assert f"{r1['diff']:+.3f} [{r1['ci_low']:+.3f}, {r1['ci_high']:+.3f}]" in text
    assert "Apache-2.0" in text and "Gemma Terms of Use" not in text.split("## Models")[0]
    assert "Self-Instruct: Aligning Language Models with Self-Generated Instructions" in text
    _, tokens = markdown(text)
    config = [t.content for t in tokens if t.type == "fence" and t.info == "yaml"]
    assert len(config) == 1 and yaml.safe_load(config[0]) == data.config
    for secret in (FAKE_SECRET, URL_PASSWORD, str(run.parent.parent.resolve())):
        assert secret not in text


def test_the_pushed_card_points_at_the_hubs_layout(run):
    data = load_run(run)
    text = dataset_card(data, rows(data), HUB_FILES, load_as="someone/data")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"}]
    assert 'load_dataset("someone/data")' in text


def test_hostile_text_cannot_break_the_card(run, tmp_path):
    """A run's name (manifest), a config string and a task's text with a front-matter fence, a
    heading, a table row, a code fence, a script and a link: the metadata stays ours, the page's
    structure stays ours, and no HTML gets through."""
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "name": HOSTILE}))
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["seeds"] = HOSTILE  # top level: YAML indents its later lines by 2, where "```" would close a fence
    cfg["generate"]["magpie_prefix"] = HOSTILE
    cfg["filter"]["quality"]["blacklist"].append(HOSTILE)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    data = load_run(run)
    out = rows(data)
    hostile = next(r for r in out if r["instruction"] == XSS_INSTRUCTION)
    hostile.update(instruction=HOSTILE, output=HOSTILE + "\n````\n" + HOSTILE)
    out = [hostile] + [r for r in out if r is not hostile]
    path = tmp_path / "card"
    path.mkdir()
    (path / "README.md").write_text(dataset_card(data, out))

    card = load_card(path)
    meta = card.data.to_dict()
    check_metadata(meta)
    assert meta["pretty_name"] == " ".join(f"selfinstruct run {HOSTILE}".split())
    assert set(meta) == {"license", "language", "task_categories", "size_categories", "pretty_name", "tags", "configs"}
    from datasets.utils.metadata import _split_yaml_from_readme

    front, body = _split_yaml_from_readme((path / "README.md").read_text())  # datasets' own split
    assert yaml.safe_load(front) == meta and body.strip() == card.text.strip()

    page, tokens = markdown(card.text)
    assert "<script" not in page and "<img" not in page
    assert all(href.startswith("https://") for href in re.findall(r'href="([^"]*)"', page))
    assert page.count("<h1>") == 1 and "Owned</h1>" not in page
    assert page.count("<h2>") == 13 and page.count("<table>") == 7
    fences = {t.info: t.content for t in tokens if t.type == "fence"}
    assert json.loads(fences["json"])["instruction"] == HOSTILE
    assert yaml.safe_load(fences["yaml"]) == data.config
