"""The tour notebook runs end to end (nbclient, a fresh Python kernel) and plotting stays notebook-safe."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "tour.ipynb"


def test_tour_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "held-out error per epoch" in text and "pulses" in text
    assert any("image/png" in o.get("data", {}) for o in outputs), "the figure was not displayed"


def test_plotting_keeps_the_backend_and_writes_the_format_asked_for(tmp_path):
    import matplotlib

    from memprop.plotting import save
    from memprop.plotting.classification import plot_fig5

    result = {"epochs": [{"epoch": e, "train_error_100": 0.5 / e, "test_error_100": 0.6 / e,
                          "train_error": 0.4 / e, "test_error": 0.5 / e} for e in (1, 2, 3)],
              "data": {"n_train": 10, "n_test": 10, "n_inputs": 784, "n_classes": 2},
              "config": {"ep": {"hidden": [8]}}, "backprop_reference": None}
    before = matplotlib.get_backend()
    try:
        matplotlib.use("svg")
        fig = plot_fig5(result)
        assert matplotlib.get_backend() == "svg"
        assert [t for t in fig.axes[0].get_xticks() if t != int(t)] == []  # integer epoch ticks
        save(fig, tmp_path / "f.pdf")
        save(fig, tmp_path / "f.svg")
        save(fig, tmp_path / "f.png")
    finally:
        matplotlib.use(before)
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()[:2000]
    assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")
