"""Strip run-dependent noise from executed notebooks before committing them (tests/test_notebooks.py checks this).

    jupyter nbconvert --to notebook --execute --inplace notebooks/03_v_prediction.ipynb   # without CI set
    python notebooks/strip_metadata.py notebooks/03_v_prediction.ipynb

Keeps the outputs (so the notebooks render on a code host) and drops: notebook metadata other than the kernel's name
and language, cell metadata other than tags and a hidden source (the exercises' solution cells), execution timings,
saved widget state and widget views (their model ids change on every run). A widget's text/plain fallback,
"interactive(children=(...", becomes a sentence saying where the sliders work. Cell ids become c00, c01, ... so that
reruns diff cleanly.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_TEXT = "[sliders: open this notebook in Jupyter and run it to use them; the figure above is their default]"


def strip(nb: dict) -> dict:
    nb["metadata"] = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                      "language_info": {"name": "python"}}
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"c{i:02d}"
        meta = cell.get("metadata", {})
        cell["metadata"] = {k: v for k, v in meta.items() if k == "tags"}
        if meta.get("jupyter", {}).get("source_hidden"):
            cell["metadata"]["jupyter"] = {"source_hidden": True}
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if data.pop(WIDGET_VIEW, None) is not None:
                data["text/plain"] = [WIDGET_TEXT]
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    return nb


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit(__doc__)
    for name in paths:
        path = Path(name)
        nb = strip(json.loads(path.read_text(encoding="utf-8")))
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"stripped {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
