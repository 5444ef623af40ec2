"""``results report`` for a GAN experiment: FID-vs-step curves and the best seed's sample grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bench.record import write_record
from results.curves import curves_figure
from results.load import load_records
from results.report import build_report
from results.samples import best_seed_grids
from tests.results.conftest import make_record

STEPS = [2000, 4000, 6000]


def _gan_record(runs: Path, optimizer: str, seed: int, fids: list[float], grid_value: int) -> Path:
    record = make_record(experiment="gan_exp", optimizer=optimizer, model="sngan_resnet", dataset="cifar10",
                         lr=2e-4, seed=seed, val=fids, test=[f + 0.5 for f in fids], metric="fid", mode="min",
                         cell_suffix=f"{seed}abcdefgh")
    for entry, step in zip(record["history"], STEPS):
        entry["step"] = step
    record["budget"] = {"per": "step", "max_steps": STEPS[-1], "eval_every": 2000}
    cell = write_record(runs / "gan_exp" / record["cell_id"], record).parent
    Image.fromarray(np.full((34, 34, 3), grid_value, dtype=np.uint8)).save(cell / "samples.png")
    return cell


def test_curves_are_drawn_against_generator_steps_and_grids_come_from_the_best_seed(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _gan_record(runs, "adam", 0, [30.0, 20.0, 25.0], 10)
    best_adam = _gan_record(runs, "adam", 1, [28.0, 15.0, 18.0], 200)  # best val_fid 15 -> this seed
    _gan_record(runs, "adamomentum", 0, [26.0, 19.0, 17.0], 90)
    records = load_records(runs, "gan_exp")

    grids = {opt: (png, row["seed"]) for opt, png, row in best_seed_grids(records)}
    assert grids["adam"] == (best_adam / "samples.png", 1) and grids["adamomentum"][1] == 0

    fig = curves_figure(records)
    fid_axis = fig.axes[1]
    assert fid_axis.get_xlabel() == "step"
    xs = {tuple(line.get_xdata()) for line in fid_axis.get_lines()}
    assert xs == {tuple(STEPS)}  # one line per optimizer at the evaluation steps, not epochs

    index, _ = build_report(runs, tmp_path / "report")
    out = tmp_path / "report" / "gan_exp"
    sample_png = out / "samples_sngan-resnet_cifar10.png"
    assert sample_png.stat().st_size > 0 and (out / "curves_sngan-resnet_cifar10.png").is_file()
    assert "samples_sngan-resnet_cifar10.png" in index.read_text()


def test_no_sample_grid_for_experiments_without_one(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    record = make_record(experiment="cls", optimizer="adam")
    write_record(runs / "cls" / record["cell_id"], record)
    build_report(runs, tmp_path / "report")
    assert not list((tmp_path / "report" / "cls").glob("samples_*.png"))
