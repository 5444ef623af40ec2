"""The published numbers and table layouts against the papers.

The expected shapes and spot values below were read off the papers' text
(../shared/papers/*.txt) by hand, independently of results/layouts.py and published.csv.
"""

from __future__ import annotations

import math

import pytest

from results.layouts import COORDINATES, FIGURES_ONLY, LAYOUTS, UNITS
from results.units import std_to_unit, to_unit
from tests.results.conftest import DESCRIPTIONS
from results.published import PUBLISHED_CSV, load_published

# (paper, table): (rows, columns) as printed.
EXPECTED_SHAPES = {
    ("padam", "1"): (3, 7),        # VGGNet/ResNet/WideResNet x SGD-Momentum..Padam, CIFAR-10
    ("padam", "2"): (4, 7),        # {Resnet, VGGNet} x {Top-1, Top-5} x 7 optimizers, ImageNet
    ("padam", "3"): (2, 7),        # 2-/3-layer LSTM, PTB perplexity
    ("padam", "4"): (3, 7),        # CIFAR-100 (appendix D)
    ("adamomentum", "2"): (1, 7),  # SN-GAN FID, 7 optimizers incl. Ours
    ("adamomentum", "3"): (3, 8),  # VGGNet-16/ResNet-34/DenseNet-121 x 8, CIFAR-10
    ("adamomentum", "4"): (1, 8),  # ResNet-18 ImageNet top-1
    ("adamomentum", "5"): (3, 8),  # LSTM 1/2/3 layers, PTB
    ("adamomentum", "6"): (1, 5),  # IWSLT'14 BLEU: SGDM, Adam, AdamW, AdaBelief, Ours
    ("adarem", "1"): (6, 2),       # 6 ImageNet models x SGDM / AdaRem-S
    ("adarem", "2"): (2, 6),       # ResNet-18 Top-1/Top-5 x 6 optimizers
    ("adarem", "3"): (1, 3),       # PTB perplexity: SGDM, Adam, AdaRem
}

# (paper, table, row label, column label): (value, std or None), read from the paper text.
SPOT_VALUES = {
    ("padam", "1", "ResNet", "SGD-Momentum"): (95.00, None),
    ("padam", "1", "WideResNet", "Padam"): (95.34, None),
    ("padam", "2", "Resnet Top-1", "Adam"): (63.79, None),
    ("padam", "2", "VGGNet Top-5", "Padam"): (91.93, None),
    ("padam", "3", "3-layer LSTM", "Padam"): (58.48, None),
    ("padam", "3", "2-layer LSTM", "Yogi"): (64.13, None),
    ("padam", "4", "WideResNet", "SGDM"): (76.66, None),
    ("padam", "4", "VGGNet", "Amsgrad"): (69.40, None),
    ("adamomentum", "2", "FID", "AdaBound†"): (55.65, 2.15),
    ("adamomentum", "2", "FID", "Ours"): (12.06, 0.21),
    ("adamomentum", "3", "DenseNet-121", "SGDM"): (95.03, 0.19),
    ("adamomentum", "3", "ResNet-34", "Ours"): (96.33, 0.07),
    ("adamomentum", "4", "Top-1", "Adam"): (65.36, 0.25),
    ("adamomentum", "5", "1", "Ours"): (80.82, 0.19),
    ("adamomentum", "5", "3", "Yogi"): (67.58, 0.08),
    ("adamomentum", "6", "BLEU", "Adam"): (30.14, 1.56),
    ("adarem", "1", "ShuffleNetV2-0.5", "AdaRem-S"): (60.15, None),
    ("adarem", "1", "ResNet50", "SGDM"): (76.18, None),
    ("adarem", "2", "ResNet-18 Top-1", "AdaBound"): (69.3, None),
    ("adarem", "2", "ResNet-18 Top-5", "AdaRem"): (89.51, None),
    ("adarem", "3", "Perplexity", "AdaRem"): (69.13, None),
}


def test_every_listed_table_has_a_layout_of_the_printed_shape() -> None:
    assert set(LAYOUTS) == set(EXPECTED_SHAPES)
    for key, layout in LAYOUTS.items():
        assert layout.shape == EXPECTED_SHAPES[key], key
        assert layout.unit in UNITS and layout.at in ("final", "best")
        for _, _, coords in layout.cells():
            assert set(coords) == set(COORDINATES), (key, coords)


def test_csv_fills_exactly_each_tables_grid() -> None:
    published = load_published()
    assert set(zip(published["paper"], published["table"])) == set(EXPECTED_SHAPES)
    for (paper, table), (n_rows, n_cols) in EXPECTED_SHAPES.items():
        rows = published[(published["paper"] == paper) & (published["table"] == table)]
        layout = LAYOUTS[(paper, table)]
        cells = list(zip(rows["row"], rows["col"]))
        assert len(cells) == len(set(cells)) == n_rows * n_cols, (paper, table)
        assert set(cells) == {(r.label, c.label) for r, c, _ in layout.cells()}
        # The CSV's coordinates and unit agree with the layout cell they sit in.
        for row, col, coords in layout.cells():
            hit = rows[(rows["row"] == row.label) & (rows["col"] == col.label)].iloc[0]
            assert {k: hit[k] for k in COORDINATES} == coords, (paper, table, row.label, col.label)
            assert hit["unit"] == layout.unit


def test_spot_values_match_the_papers() -> None:
    published = load_published().set_index(["paper", "table", "row", "col"])
    for key, (value, std) in SPOT_VALUES.items():
        assert published.loc[key, "value"] == value, key
        if std is None:
            assert math.isnan(published.loc[key, "std"]), key
        else:
            assert published.loc[key, "std"] == std, key


def test_std_is_given_exactly_where_the_paper_prints_one() -> None:
    published = load_published()
    with_std = published["std"].notna()
    # AdaMomentum reports mean ± std over 5 runs in every table; Padam and AdaRem print none.
    assert with_std.equals(published["paper"] == "adamomentum")
    assert (published.loc[with_std, "std"] > 0).all()


def test_values_are_in_range_for_their_unit() -> None:
    published = load_published()
    pct = published[published["unit"] == "%"]
    assert ((pct["value"] > 50) & (pct["value"] < 100)).all()
    assert ((published[published["unit"] == "ppl"]["value"] > 50)).all()


def test_figure_only_papers_are_noted_and_have_no_rows() -> None:
    assert set(FIGURES_ONLY) == {"rame", "adal"}
    assert not set(load_published()["paper"]) & set(FIGURES_ONLY)
    header = "".join(line for line in PUBLISHED_CSV.read_text().splitlines(True) if line.startswith("#"))
    assert "RAME and AdaL publish their results as figures only" in header


@pytest.mark.parametrize(("value", "metric", "unit", "expected"), [
    (0.9371, "acc", "%", 93.71),
    (0.9371, "acc", "error%", 6.29),
    (0.8940, "acc5", "%", 89.40),
    (61.53, "ppl", "ppl", 61.53),
    (12.06, "fid", "FID", 12.06),
])
def test_record_values_convert_to_the_printed_unit(value, metric, unit, expected) -> None:
    assert to_unit(value, DESCRIPTIONS[metric], unit) == pytest.approx(expected)


def test_spread_converts_by_scale_only_and_bad_units_are_refused() -> None:
    acc, ppl = DESCRIPTIONS["acc"], DESCRIPTIONS["ppl"]
    assert std_to_unit(0.0012, acc, "%") == pytest.approx(0.12)
    assert std_to_unit(0.0012, acc, "error%") == pytest.approx(0.12)
    assert std_to_unit(0.2, ppl, "ppl") == 0.2
    with pytest.raises(ValueError, match="not a fraction"):
        to_unit(60.0, ppl, "%")
    with pytest.raises(ValueError, match="not a fraction"):
        to_unit(60.0, ppl, "error%")
