"""Curves and LR-sensitivity plots: what is drawn (lines, bands, scales, units) and that
non-empty PNGs are written."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import PathCollection

from results.curves import curves_figure, plot_curves
from results.load import load_records
from results.sensitivity import plot_sensitivity, sensitivity_figure
from results.style import plt


@pytest.fixture
def quick(runs: Path, write_cell):
    """adam: 2 seeds at its best lr 0.01 (+ a worse 0.001 and a diverged 0.1); sgd: 1 seed;
    rmsprop: diverged at its only lr."""
    write_cell(experiment="q", optimizer="adam", lr=0.01, seed=0, val=[0.6, 0.9, 0.92], test=[0.50, 0.80, 0.90],
               train_loss=[1.0, 0.1, 0.01])
    write_cell(experiment="q", optimizer="adam", lr=0.01, seed=1, val=[0.6, 0.9, 0.94], test=[0.60, 0.84, 0.92],
               train_loss=[1.2, 0.2, 0.02])
    write_cell(experiment="q", optimizer="adam", lr=0.001, seed=0, val=[0.5, 0.6, 0.7])
    write_cell(experiment="q", optimizer="adam", lr=0.1, seed=0, val=[0.3], status="diverged")
    write_cell(experiment="q", optimizer="sgd", lr=0.1, seed=0, val=[0.5, 0.7, 0.8])
    write_cell(experiment="q", optimizer="rmsprop", lr=0.01, seed=0, val=[0.1], status="diverged")
    yield load_records(runs, "q")
    plt.close("all")


def _lines(ax) -> dict[str, object]:
    return {line.get_label(): line for line in ax.get_lines()}


def test_curves_one_line_per_optimizer_at_its_best_lr_with_seed_band(quick) -> None:
    fig = curves_figure(quick)
    loss_ax, test_ax = fig.axes
    assert loss_ax.get_yscale() == "log"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["adam (lr=0.01)", "rmsprop: diverged", "sgd (lr=0.1)"]
    adam_loss = _lines(loss_ax)["adam (lr=0.01)"]
    assert list(adam_loss.get_xdata()) == [1, 2, 3]  # epochs completed
    assert adam_loss.get_ydata() == pytest.approx([1.1, 0.15, 0.015])  # mean over the two seeds
    test_lines = test_ax.get_lines()
    assert len(test_lines) == 2
    assert test_lines[0].get_ydata() == pytest.approx([55.0, 82.0, 91.0])  # adam, percent
    assert len(test_ax.collections) == 1  # the seed band: only adam has more than one seed
    assert test_ax.get_ylabel() == "test accuracy (%)"


def test_curves_follow_the_papers_figure_style(runs: Path, write_cell) -> None:
    write_cell(experiment="p", optimizer="padam", model="vgg16", dataset="cifar10", lr=0.1, val=[0.5, 0.9],
               test=[0.5, 0.9], reproduces={"paper": "padam", "table": "1"}, train_loss=[0.5, 0.0])
    fig = curves_figure(load_records(runs, "p"))
    loss_ax, test_ax = fig.axes
    assert test_ax.get_ylabel() == "test error (%)"  # Padam plots top-1 error
    assert test_ax.get_lines()[0].get_ydata() == pytest.approx([50.0, 10.0])
    assert loss_ax.get_yscale() == "linear"  # a zero loss cannot go on a log axis
    plt.close("all")


def test_curves_add_a_top5_panel_when_logged(runs: Path, write_cell) -> None:
    write_cell(experiment="i", optimizer="sgd", model="resnet18", dataset="imagenet", val=[0.5, 0.6],
               extra={"test_acc5": [0.7, 0.8]})
    fig = curves_figure(load_records(runs, "i"))
    assert len(fig.axes) == 3 and fig.axes[2].get_ylabel() == "test top-5 accuracy (%)"
    assert fig.axes[2].get_lines()[0].get_ydata() == pytest.approx([70.0, 80.0])
    plt.close("all")


def _assert_real_png(path: Path) -> None:
    assert path.stat().st_size > 10_000
    pixels = matplotlib.image.imread(path)[..., :3]
    assert pixels.shape[0] > 300 and pixels.shape[1] > 500
    assert (pixels < 0.5).mean() > 0.005  # drawn content, not a blank canvas
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # several colours: lines, not one fill


def test_plot_curves_writes_one_png_per_model_and_dataset(quick, runs: Path, write_cell, tmp_path: Path) -> None:
    write_cell(experiment="q", optimizer="adam", model="cnn", lr=0.01, val=[0.6, 0.7])
    paths = plot_curves(load_records(runs, "q"), tmp_path / "out")
    assert [p.name for p in paths] == ["curves_cnn_digits.png", "curves_mlp_digits.png"]
    for path in paths:
        _assert_real_png(path)


def test_sensitivity_draws_usable_lrs_and_marks_unusable_ones(quick) -> None:
    fig = sensitivity_figure(quick)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    lines = {c.get_label(): c.lines[0] for c in ax.containers}  # one errorbar line per optimizer
    assert list(lines["adam"].get_xdata()) == [0.001, 0.01]  # the diverged lr 0.1 is not a number
    assert lines["adam"].get_ydata() == pytest.approx([70.0, 93.0])  # final val acc, mean over seeds
    assert len(lines["rmsprop"].get_xdata()) == 0
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend.count("x: diverged / failed / running") == 1
    # Crosses sit at 2 % of the axes height (y = 0.02 in axes units); circles at the selected value.
    points = [(x, y) for c in ax.collections if isinstance(c, PathCollection) for x, y in c.get_offsets()]
    assert sorted(x for x, y in points if y == 0.02) == [0.01, 0.1]  # rmsprop's 0.01 and adam's 0.1
    assert sorted((x, round(y, 6)) for x, y in points if y != 0.02) == [(0.01, 93.0), (0.1, 80.0)]  # selected lrs


def test_plot_sensitivity_writes_png_and_csv(quick, tmp_path: Path) -> None:
    paths = plot_sensitivity(quick, tmp_path / "out")
    assert [p.name for p in paths] == ["sensitivity_mlp_digits.png"]
    _assert_real_png(paths[0])
    csv = (tmp_path / "out" / "sensitivity.csv").read_text().splitlines()
    assert len(csv) == 1 + 5  # adam x3 lrs, sgd, rmsprop
