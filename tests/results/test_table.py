"""Tables: the paper's layout, our numbers beside the published ones, missing/diverged/failed
cells rendered as such; the generic table and the summary for the quickstart."""

from __future__ import annotations

from pathlib import Path

import pytest

from results.layouts import LAYOUTS
from results.load import load_records
from results.table import generic_table, paper_table, render_summary, render_table, write_table

PADAM1 = {"paper": "padam", "table": "1"}


def md_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """(header, rows) of every markdown table in ``text``."""
    tables, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split(" | ")])
        elif block:
            tables.append((block[0], block[2:]))
            block = []
    return tables


@pytest.fixture
def padam1(runs: Path, write_cell):
    """Padam Table 1 cells: SGD on VGG (2 seeds, 2 lrs), Padam on VGG diverged at every lr,
    Adam on ResNet failed, plus one optimizer the paper's table does not have."""
    common = {"experiment": "padam_table1", "dataset": "cifar10", "reproduces": PADAM1}
    write_cell(**common, optimizer="sgd", model="vgg16", lr=0.1, seed=0, val=[0.5, 0.93], test=[0.5, 0.9350])
    write_cell(**common, optimizer="sgd", model="vgg16", lr=0.1, seed=1, val=[0.5, 0.94], test=[0.5, 0.9370])
    write_cell(**common, optimizer="sgd", model="vgg16", lr=0.01, seed=0, val=[0.5, 0.90], test=[0.5, 0.99])
    write_cell(**common, optimizer="sgd", model="vgg16", lr=0.01, seed=1, val=[0.5, 0.90], test=[0.5, 0.99])
    write_cell(**common, optimizer="padam", model="vgg16", lr=0.1, val=[0.3], status="diverged")
    write_cell(**common, optimizer="padam", model="vgg16", lr=1.0, val=[0.2], status="diverged")
    write_cell(**common, optimizer="adam", model="resnet18", lr=0.001, val=[], status="failed")
    write_cell(**common, optimizer="nadam", model="vgg16", lr=0.001, val=[0.8], test=[0.8])
    return load_records(runs, "padam_table1")


def test_paper_table_has_the_papers_rows_and_columns(padam1) -> None:
    table = paper_table(padam1, LAYOUTS[("padam", "1")])
    header, rows = md_tables(table.markdown)[0]
    assert header == ["Models", "SGD-Momentum", "Adam", "Amsgrad", "AdamW", "Yogi", "AdaBound", "Padam"]
    assert [r[0] for r in rows] == ["VGGNet", "ResNet", "WideResNet"]
    assert all(len(r) == 8 for r in rows)
    assert len(table.frame) == 21


def test_cells_show_ours_published_delta_or_the_reason_there_is_no_number(padam1) -> None:
    table = paper_table(padam1, LAYOUTS[("padam", "1")])
    header, rows = md_tables(table.markdown)[0]
    cell = {(r[0], h): c for r in rows for h, c in zip(header, r)}
    # SGD/VGG: lr 0.1 wins on validation (0.935 vs 0.90); test at the final epoch 93.50, 93.70.
    assert cell[("VGGNet", "SGD-Momentum")] == "93.60 ± 0.14 / 93.71 (-0.11)"
    assert cell[("VGGNet", "Padam")] == "diverged / 93.78"
    assert cell[("ResNet", "Adam")] == "failed / 92.89"
    assert cell[("WideResNet", "Yogi")] == "— / 94.23"
    frame = table.frame.set_index(["row", "col"])
    assert frame.loc[("VGGNet", "SGD-Momentum"), "lr"] == 0.1
    assert frame.loc[("VGGNet", "SGD-Momentum"), "delta"] == pytest.approx(93.60 - 93.71)
    assert list(frame["status"].value_counts().sort_index().items()) == [
        ("diverged", 1), ("failed", 1), ("not run", 18), ("ok", 1)]
    # The selected-lr grid and the unusable learning rates are listed too.
    lr_header, lr_rows = md_tables(table.markdown)[1]
    assert lr_rows[0][1] == "0.1 (n=2)" and lr_rows[0][7] == "diverged"
    assert "padam vgg16/cifar10: lr=0.1: diverged; lr=1: diverged" in table.markdown


def test_records_outside_the_layout_are_listed_not_dropped(padam1) -> None:
    markdown = paper_table(padam1, LAYOUTS[("padam", "1")]).markdown
    assert "Also run (not in the paper's table)" in markdown
    header, rows = md_tables(markdown)[2]
    assert header == ["model / dataset", "nadam"] and rows == [["vgg16 / cifar10", "80.00 (lr 0.001)"]]


def test_top5_rows_use_the_top5_metric_of_the_same_selected_run(runs: Path, write_cell) -> None:
    common = {"experiment": "padam_table2", "dataset": "imagenet", "model": "resnet18",
              "reproduces": {"paper": "padam", "table": "2"}, "optimizer": "sgd"}
    write_cell(**common, lr=0.1, val=[0.7], test=[0.70], extra={"test_acc5": [0.894]})
    write_cell(**common, lr=1.0, val=[0.6], test=[0.60], extra={"test_acc5": [0.999]})
    table = paper_table(load_records(runs), LAYOUTS[("padam", "2")])
    header, rows = md_tables(table.markdown)[0]
    assert [r[0] for r in rows] == ["Resnet Top-1", "Resnet Top-5", "VGGNet Top-1", "VGGNet Top-5"]
    assert rows[0][1] == "70.00 / 70.23 (-0.23)"
    assert rows[1][1] == "89.40 / 89.40 (+0.00)"


def test_perplexity_tables_are_not_converted(runs: Path, write_cell) -> None:
    write_cell(experiment="adarem_table3", optimizer="adarem", model="lstm3", dataset="ptb", metric="ppl", mode="min",
               reproduces={"paper": "adarem", "table": "3"}, lr=0.01, val=[80.0, 70.0], test=[78.0, 69.5])
    header, rows = md_tables(paper_table(load_records(runs), LAYOUTS[("adarem", "3")]).markdown)[0]
    assert header == ["Optimizers", "SGDM", "Adam", "AdaRem"]
    assert rows == [["Perplexity", "— / 71.56", "— / 70.16", "69.50 / 69.13 (+0.37)"]]


def test_at_flag_switches_between_final_and_validation_best_epoch(runs: Path, write_cell) -> None:
    write_cell(experiment="p", optimizer="padam", model="vgg16", dataset="cifar10", reproduces=PADAM1, lr=0.1,
               val=[0.5, 0.95, 0.94], test=[0.5, 0.9400, 0.9300])
    records = load_records(runs)
    final = paper_table(records, LAYOUTS[("padam", "1")], at="paper")  # Padam's convention: final epoch
    best = paper_table(records, LAYOUTS[("padam", "1")], at="best")
    assert md_tables(final.markdown)[0][1][0][7].startswith("93.00 / 93.78")
    assert md_tables(best.markdown)[0][1][0][7].startswith("94.00 / 93.78")


def test_generic_table_and_summary_for_an_experiment_without_a_paper_table(runs: Path, write_cell) -> None:
    write_cell(experiment="quickstart", optimizer="adam", lr=0.01, val=[0.95], test=[0.94])
    write_cell(experiment="quickstart", optimizer="adam", lr=0.1, val=[0.2], status="diverged")
    write_cell(experiment="quickstart", optimizer="sgd", lr=0.1, val=[0.97], test=[0.96])
    write_cell(experiment="quickstart", optimizer="rmsprop", lr=1.0, val=[0.1], status="diverged")
    records = load_records(runs, "quickstart")
    header, rows = md_tables(generic_table(records).markdown)[0]
    assert header == ["model / dataset", "adam", "rmsprop", "sgd"]
    assert rows == [["mlp / digits", "94.00 (lr 0.01)", "diverged", "96.00 (lr 0.1)"]]
    header, rows = md_tables(render_summary(records))[0]
    assert header == ["model / dataset", "optimizer", "best lr", "val acc (%)", "test acc (%)", "epochs to target",
                      "time to target (s)", "cells"]
    # target 0.99 x 97% (sgd's final val): sgd is there after its one epoch (1 s), adam's 95% never gets there
    assert rows == [["mlp / digits", "sgd", "0.1", "97.00", "96.00", "1", "1", "1 ok"],
                    ["mlp / digits", "adam", "0.01", "95.00", "94.00", "never", "never", "1 diverged, 1 ok"],
                    ["mlp / digits", "rmsprop", "—", "diverged", "diverged", "—", "—", "1 diverged"]]


def test_figure_experiments_get_the_generic_table_with_a_note(runs: Path, write_cell) -> None:
    write_cell(experiment="toy", optimizer="adam", dataset="sphere", model="point", metric="dist", mode="min",
               reproduces={"paper": "adamomentum", "table": "fig2"}, val=[1.0, 0.5], test=[1.0, 0.5])
    markdown = render_table(load_records(runs, "toy")).markdown
    assert "reproduces adamomentum fig2: no published table" in markdown
    assert md_tables(markdown)[0][1] == [["point / sphere", "0.5 (lr 0.01)"]]


def test_write_table_writes_markdown_and_csv(padam1, tmp_path: Path) -> None:
    table, files = write_table(padam1, tmp_path / "out")
    assert [f.name for f in files] == ["table.md", "table.csv"]
    assert files[0].read_text() == table.markdown
    csv = files[1].read_text().splitlines()
    assert csv[0].startswith("paper,table,row,col,optimizer,model,dataset,metric,unit,at,status,lr,n_seeds,ours")
    assert len(csv) == 1 + 21
