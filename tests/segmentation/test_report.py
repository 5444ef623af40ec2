"""``results report`` draws RAME Fig. 3's three panels from segmentation records."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.record import write_record
from results.load import load_records
from results.report import build_report
from results.segmentation import segmentation_figure
from tests.results.conftest import make_record


def _write(runs: Path, **kw) -> None:
    record = make_record(experiment="rame_coco", model="fpn_resnet152", dataset="coco_person", metric="iou",
                         reproduces={"paper": "rame", "table": "fig3"}, **kw)
    for entry in record["history"]:
        entry.pop("test_iou"), entry.pop("test_loss")
    write_record(runs / record["experiment"] / record["cell_id"], record)


@pytest.fixture
def seg_runs(runs: Path) -> Path:
    _write(runs, optimizer="sgd", lr=0.1, val=(0.2, 0.3))
    _write(runs, optimizer="sgd", lr=0.01, val=(0.4, 0.5), train_loss=(0.9, 0.7), extra={"val_loss": (0.8, 0.6)})
    _write(runs, optimizer="rame", lr=0.001, val=(0.6, 0.7))
    _write(runs, optimizer="rame", lr=0.01, val=(0.9, 0.95), status="diverged")
    _write(runs, optimizer="adam", lr=0.001, val=(0.1,), status="failed")
    return runs


def test_three_panels_at_the_lr_chosen_by_validation_iou(seg_runs: Path) -> None:
    fig = segmentation_figure(load_records(seg_runs, "rame_coco"))
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["training loss", "validation loss", "validation IoU"]
    labels = sorted(line.get_label() for line in axes[0].get_lines())
    assert labels == ["RAME (q=1/4) [0.001]", "SHB [0.01]", "adam: failed"]
    color = next(line.get_color() for line in axes[0].get_lines() if line.get_label() == "SHB [0.01]")
    shb = {ax.get_title(): next(line for line in ax.get_lines() if line.get_color() == color) for ax in axes}
    assert list(shb["training loss"].get_ydata()) == [0.9, 0.7]
    assert list(shb["validation loss"].get_ydata()) == [0.8, 0.6]
    assert list(shb["validation IoU"].get_ydata()) == [0.4, 0.5]
    assert list(shb["validation IoU"].get_xdata()) == [1, 2]


def test_report_writes_the_segmentation_png(seg_runs: Path, tmp_path: Path) -> None:
    index, _ = build_report(seg_runs, tmp_path / "report")
    png = tmp_path / "report" / "rame_coco" / "segmentation_fpn-resnet152_coco-person.png"
    assert png.is_file() and png.stat().st_size > 1000
    assert "segmentation_fpn-resnet152_coco-person.png" in index.read_text()


def test_no_segmentation_panels_for_other_metrics(runs: Path, tmp_path: Path) -> None:
    record = make_record(experiment="other")
    write_record(runs / "other" / record["cell_id"], record)
    build_report(runs, tmp_path / "report")
    assert not list((tmp_path / "report" / "other").glob("segmentation_*.png"))
