"""The docs a newcomer reads: figures equal to the committed JSON, links that lead somewhere,
a README of five minutes, and each definition written once."""

import json
import re
import shutil
from pathlib import Path

import pytest

from bench import markdown
from bench.markdown import Sources
from tests.conftest import ROOT

FIGURES = ROOT / "docs" / "bench"
DOCS = markdown.docs(ROOT)
LINK = re.compile(r"\]\(([^)\s]+)\)")
INSIDER = re.compile(r"\b(?:the brief|the contract|the usual build|the issue)\b", re.IGNORECASE)
# Written once, in the file named: the others link there.
ONCE = {
    "M < ts ≤ M + 60": "docs/database.md",  # the minute rule
    "100 × Δbusy / Δtotal": "docs/database.md",  # noqa: RUF001 - what a sample is
    "more than 2 × the interval": "docs/database.md",  # noqa: RUF001 - what a gap is
    "server_name": "docs/http-api.md",  # the nginx block
}


@pytest.fixture(scope="module")
def sources() -> Sources:
    return Sources.load(FIGURES / "latest.json")


def text(doc: Path) -> str:
    return doc.read_text(encoding="utf-8")


def name(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_every_generated_table_equals_what_its_committed_json_renders(
    doc: Path, sources: Sources
) -> None:
    found = text(doc)
    stale = [
        f"{m[1]}:{m[2]}"
        for m in markdown.BLOCK.finditer(found)
        if markdown.rewrite(m[0], sources) != m[0]
    ]
    assert not stale, f"{name(doc)}: {stale} differ from docs/bench/: python -m bench --markdown"


def test_a_figure_changed_in_the_json_changes_the_table(sources: Sources) -> None:
    doc = "before\n<!-- bench:storage -->\nstale\n<!-- /bench:storage -->\nafter\n"
    first = markdown.rewrite(doc, sources)
    assert first.startswith("before\n<!-- bench:storage -->\n| figure |") and first.endswith(
        "<!-- /bench:storage -->\nafter\n"
    )
    bench = json.loads(json.dumps(sources.bench))
    row = next(r for r in bench["rows"] if r["section"] == "storage")
    row["p50"] += 1.0
    changed = markdown.rewrite(first, Sources(bench, sources.faults, sources.others))
    assert changed != first and markdown.rewrite(changed, sources) == first
    with pytest.raises(KeyError, match="nonsense"):
        markdown.rewrite("<!-- bench:nonsense -->\n<!-- /bench:nonsense -->", sources)


def test_bench_markdown_rewrites_a_stale_table_and_says_which_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "docs" / "bench").mkdir(parents=True)
    for source in FIGURES.glob("*.json"):
        shutil.copy(source, tmp_path / "docs" / "bench" / source.name)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- faults:kill -->\nOLD TABLE\n<!-- /faults:kill -->\n")
    assert markdown.main(tmp_path / "docs" / "bench" / "latest.json", root=tmp_path) == 0
    assert "| SIGKILLs" in readme.read_text() and "OLD TABLE" not in readme.read_text()
    assert "rewrote README.md" in capsys.readouterr().err
    (tmp_path / "docs" / "bench" / "faults.json").unlink()
    assert markdown.main(tmp_path / "docs" / "bench" / "latest.json", root=tmp_path) == 1
    assert "faults.json" in capsys.readouterr().err


def test_every_bench_section_and_fault_group_has_its_table_in_the_docs(sources: Sources) -> None:
    shown = {block for doc in DOCS for block in markdown.blocks(text(doc))}
    sections = {("bench", r["section"]) for r in sources.bench["rows"]}
    groups = {("faults", g) for g in sources.faults["groups"]}
    missing = sorted((sections | groups) - shown)
    assert not missing, f"figures no doc shows: {missing}; add <!-- kind:name --> blocks"


def test_the_readme_reads_in_five_minutes() -> None:
    lines = text(ROOT / "README.md").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail into docs/"


def anchors(doc: Path) -> set[str]:
    """GitHub's anchors for the headings of `doc`."""
    headings = re.findall(r"^#+ (.+)$", text(doc), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_every_link_between_the_docs_leads_somewhere(doc: Path) -> None:
    broken = []
    for target in LINK.findall(text(doc)):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        where = (doc.parent / path).resolve() if path else doc
        if not where.exists() or (anchor and anchor not in anchors(where)):
            broken.append(target)
    assert not broken, f"{name(doc)}: links that lead nowhere: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_no_words_that_assume_the_reader_saw_the_project_history(doc: Path) -> None:
    insider = INSIDER.findall(text(doc))
    assert not insider, f"{name(doc)}: {insider}"


@pytest.mark.parametrize("phrase", list(ONCE))
def test_each_definition_is_written_in_one_file(phrase: str) -> None:
    holders = [name(doc) for doc in DOCS if phrase in text(doc)]
    assert holders == [ONCE[phrase]], f"{phrase!r} is written in {holders}"
