"""The notebook series as files: structure, conventions and committed state (nbval executes them separately).

These read the .ipynb JSON only (no kernel, no nbformat), so they run in the plain test suite.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SECTIONS = ["## Aim", "## Theory", "## Practice", "## Plots", "## Checks", "## Takeaways", "## Exercises", "## References"]
# Every notebook cites the paper and the works it builds on, by arXiv id: Lin et al., DDPM, DDIM, v-prediction
# (Salimans & Ho), classifier-free guidance, Imagen's dynamic thresholding, Min-SNR.
ARXIV_IDS = ["2305.08891", "2006.11239", "2010.02502", "2202.00512", "2207.12598", "2205.11487", "2303.09556"]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"])


def section(cells: list[dict], header: str, until: str | None) -> list[dict]:
    """The cells from the one holding `header` up to (not including) the one holding `until`."""
    start = next(i for i, c in enumerate(cells) if header in source(c))
    end = len(cells) if until is None else next(i for i, c in enumerate(cells) if until in source(c))
    return cells[start:end]


def test_the_series_is_numbered_from_one_without_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert len(numbers) >= 6 and numbers == list(range(1, len(numbers) + 1)), [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_top_says_what_is_learnt_what_is_needed_how_long_it_runs_and_what_is_in_it(path):
    cells = load(path)["cells"]
    top = "".join(source(c) for c in cells[:next(i for i, c in enumerate(cells) if "## Aim" in source(c)) + 1])
    for label in ("**You will learn to**", "**Prerequisites:**", "**Run time (measured on a 2-core CPU):**", "**Contents:**"):
        assert label in top, f"{path.name}: the top lacks {label}"
    run_time = re.search(r"\*\*Run time \(measured on a 2-core CPU\):\*\* (.+)", top).group(1)
    assert re.search(r"\d+ s\b.*\bCI\b", run_time) or re.search(r"\d+ min", run_time), f"{path.name}: {run_time!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_printed_lines_fit_in_100_columns(path):
    """JupyterLab wraps longer lines, which breaks printed tables."""
    for k, cell in enumerate(load(path)["cells"]):
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", "")) if output["output_type"] == "stream" else ""
            wide = [line for line in text.splitlines() if len(line) > 100]
            assert not wide, f"{path.name} cell {k}: {len(wide[0])} columns: {wide[0][:60]!r}..."


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_citations_put_the_paper_s_equations_in_their_sections(path):
    """arXiv 2305.08891v4: Algorithm 1 is in section 3.1, eqs. 11-12 in 3.2, eqs. 17-22 in section 6."""
    text = "".join(source(c) for c in load(path)["cells"])
    for match in re.finditer(r"(?:section|§) ?3\.2\b([^;]{0,60})", text):
        assert not re.search(r"Algorithm 1|equations? 1[7-9]|eqs?\. 1[7-9]|eqs?\. 2[0-2]", match.group(1)), \
            f"{path.name}: {match.group(0)!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_sections_come_in_the_house_order(path):
    nb = load(path)
    headers = [line.strip() for cell in nb["cells"] if cell["cell_type"] == "markdown"
               for line in source(cell).splitlines() if line.startswith("## ")]
    assert headers == SECTIONS, f"{path.name}: sections {headers}, expected {SECTIONS}"
    title = source(nb["cells"][0]).splitlines()[0]
    assert re.fullmatch(rf"# {int(path.name[:2])}\. .+", title), f"{path.name}: first line {title!r}"
    theory = next(i for i, c in enumerate(nb["cells"]) if "## Theory" in source(c))
    assert "$" in source(nb["cells"][theory]), f"{path.name}: the theory section has no LaTeX"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_sets_smoke_and_imports_the_library(path):
    code = [source(c) for c in load(path)["cells"] if c["cell_type"] == "code"]
    assert 'SMOKE = "CI" in os.environ' in code[0], f"{path.name}: the first code cell must define SMOKE"
    assert re.search(r"^import zsnr_core|^from zsnr_core", code[0], re.MULTILINE), f"{path.name}: no zsnr_core import"
    assert not any(re.search(r"^\s*(import|from)\s+(comfy|nodes)\b", c, re.MULTILINE) for c in code), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checks_assert_and_some_output_is_compared(path):
    cells = load(path)["cells"]
    start = next(i for i, c in enumerate(cells) if "## Checks" in source(c))
    end = next(i for i, c in enumerate(cells) if "## Takeaways" in source(c))
    checks = [source(c) for c in cells[start:end] if c["cell_type"] == "code"]
    assert sum(len(re.findall(r"^\s*assert ", c, re.MULTILINE)) for c in checks) >= 3, f"{path.name}: too few asserts"
    marked = [c for c in cells if c["cell_type"] == "code" and source(c).startswith("# NBVAL_CHECK_OUTPUT")]
    assert marked, f"{path.name}: no cell marked # NBVAL_CHECK_OUTPUT"
    for cell in marked:  # a compared cell must have printed something to compare, and nothing that varies by run
        text = "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")
        assert text.strip(), f"{path.name}: a # NBVAL_CHECK_OUTPUT cell printed nothing"
        assert not re.search(r"0x[0-9a-f]{6,}|\d+\.\d+ ?s\b|it/s", text), f"{path.name}: run-dependent output {text!r}"
        assert all(o.get("name") != "stderr" for o in cell["outputs"]), f"{path.name}: stderr in a compared cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_executed_in_order_with_figures_and_without_noise(path):
    nb = load(path)
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}, f"{path.name}: metadata {sorted(nb['metadata'])}"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: not run top to bottom once: {counts}"
    for cell in nb["cells"]:
        meta = cell.get("metadata", {})
        assert set(meta) <= {"tags", "jupyter"}, f"{path.name}: cell metadata {meta}"
        assert meta.get("jupyter", {"source_hidden": True}) == {"source_hidden": True}, f"{path.name}: {meta}"
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"], f"{path.name}: committed with an error"
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name}: no figure in the outputs"
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), path.name
    assert path.stat().st_size < 1_500_000, f"{path.name} is {path.stat().st_size} bytes; keep figures small"


def test_readme_lists_every_notebook_and_how_to_open_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in readme, f"README does not list {path.name}"
    assert "jupyter lab notebooks/" in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_previous_and_next_links_at_the_top_and_bottom(path):
    cells = load(path)["cells"]
    k = NOTEBOOKS.index(path)
    wanted = ["README.md"] + [NOTEBOOKS[j].name for j in (k - 1, k + 1) if 0 <= j < len(NOTEBOOKS)]
    for where, cell in (("first cell", cells[0]), ("last cell", cells[-1])):
        links = re.findall(r"\]\(([^)\s]+)\)", source(cell))
        for name in wanted:
            assert name in links, f"{path.name}: the {where} does not link to {name} (links: {links})"
    for name in re.findall(r"\]\(([^):\s]+)\)", "".join(source(c) for c in cells)):
        assert (path.parent / name.split("#")[0]).exists(), f"{path.name}: link to a missing file {name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_references_cite_the_paper_and_what_it_builds_on(path):
    cells = load(path)["cells"]
    refs = "".join(source(c) for c in section(cells, "## References", None))
    missing = [i for i in ARXIV_IDS if f"arXiv:{i}" not in refs]
    assert not missing, f"{path.name}: References lack arXiv {missing}"
    # that no notebook cites a notes file outside the repository is checked for every tracked file in test_package


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_have_collapsed_solutions_that_are_executed_and_checked(path):
    cells = section(load(path)["cells"], "## Exercises", "## References")
    text = "".join(source(c) for c in cells if c["cell_type"] == "markdown")
    numbers = [int(n) for n in re.findall(r"\*\*Exercise (\d+)\.\*\*", text)]
    assert 2 <= len(numbers) <= 4 and numbers == list(range(1, len(numbers) + 1)), f"{path.name}: exercises {numbers}"
    assert text.count("<details><summary>Solution</summary>") == len(numbers), f"{path.name}: a solution is not collapsed"
    assert text.count("<details><summary>Hint</summary>") == len(numbers), f"{path.name}: an exercise has no hint"
    assert text.count("</details>") == 2 * len(numbers), f"{path.name}: unbalanced <details>"
    code = [c for c in cells if c["cell_type"] == "code"]
    # each exercise: a try-it cell (a comment only), then its solution; the hint comes before both
    tries, solutions = code[0::2], code[1::2]
    assert len(tries) == len(solutions) == len(numbers), f"{path.name}: {len(code)} code cells for {numbers}"
    for n, try_it, solution in zip(numbers, tries, solutions):
        assert source(try_it).startswith(f"# Exercise {n}: try it here"), f"{path.name}: no try-it cell for {n}"
        assert all(line.startswith("#") for line in source(try_it).splitlines()), f"{path.name}: try-it {n} not blank"
        assert source(solution).startswith(f"# Solution to exercise {n}"), f"{path.name}: solution {n}"
        before = "".join(source(c) for c in cells[:cells.index(try_it)])
        assert before.count("<details><summary>Hint</summary>") == n, f"{path.name}: hint {n} is not before its cells"
    for n, cell in zip(numbers, solutions):
        assert cell["metadata"].get("jupyter") == {"source_hidden": True}, f"{path.name}: solution {n} is not hidden"
        assert re.search(r"^\s*assert ", source(cell), re.MULTILINE), f"{path.name}: solution {n} checks nothing"
        # its printed answer is folded in <details> (JupyterLab expands collapsed outputs when Run All runs a cell),
        # so that Run All does not show the answer under the question
        html = ["".join(o["data"]["text/html"]) for o in cell["outputs"] if "text/html" in o.get("data", {})]
        assert html and all(h.startswith("<details><summary>") and "<details open" not in h for h in html), \
            f"{path.name}: solution {n} was not run, or its output is not folded"
        assert not [o for o in cell["outputs"] if o["output_type"] == "stream"], f"{path.name}: solution {n} prints"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_sliders_redraw_their_one_figure_on_release(path):
    """A slider redraws the static figure in place (display_id), so that JupyterLab shows one figure, not two."""
    code = [source(c) for c in load(path)["cells"] if c["cell_type"] == "code"]
    calls = [c for c in code if "widgets.interact(" in c]
    assert calls, f"{path.name}: no interactive figure"
    for cell in calls:
        match = re.search(r"widgets\.interact\(lambda \*\*kw: (\w+)\.update\((\w+)\(\*\*kw\)\)", cell)
        assert match, f"{path.name}: the widget does not redraw a displayed figure in place"
        view, name = match.groups()
        assert re.search(rf"^{view} = display\({name}\(.*\), display_id=True\)", cell, re.MULTILINE), \
            f"{path.name}: {name}'s static figure is not displayed with a display_id in the widget's cell"
        assert re.search(r"plt\.close\(fig\).*\n\s+return fig", "".join(code)), f"{path.name}: {name} draws twice"
        call = cell[cell.index("widgets.interact("):]
        sliders = re.findall(r"\w*Slider\((?:[^()]|\([^()]*\))*\)", call)
        assert sliders, f"{path.name}: {name} has no slider"
        for slider in sliders:
            assert "continuous_update=False" in slider, f"{path.name}: {slider} redraws while dragging"
        # a bare (min, max, step) tuple makes a slider that redraws while dragging
        assert not re.search(r"=\s*\(\s*-?[\d.]+\s*,\s*-?[\d.]+", call), f"{path.name}: tuple slider in {name}"


def test_the_series_summary_figure_is_made_by_its_script_and_shown_in_the_index(tmp_path):
    pytest.importorskip("matplotlib")
    import importlib.util

    spec = importlib.util.spec_from_file_location("summary_figure", ROOT / "notebooks" / "summary_figure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(tmp_path / "summary.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert "](summary.png)" in (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    assert (ROOT / "notebooks" / "summary.png").is_file()
