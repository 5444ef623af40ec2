"""The published result tables' layouts: row and column axes in the order printed in the paper.

Each axis entry has the label the paper prints and the record coordinates it stands for
(``optimizer``/``model``/``dataset`` config names, ``metric`` key of the record history).
A cell's coordinates are the table's ``defaults`` updated by its row's and column's keys.
The table renderer walks this grid; ``published.csv`` fills it (one value per cell), and
``tests/results/test_published.py`` checks both against shapes read off the papers.

``at`` is the paper's convention for which epoch the test number comes from: ``final`` (the
last epoch: "after 200 epochs", "final test accuracy") or ``best`` (the paper reports the
best value over training; we report the test value at the validation-best epoch, never
the best test value). ``unit`` says how a record value (accuracy as a fraction) is printed.

Config names the harness does not have yet (PTB LSTMs, SN-GAN) are the names those configs
are expected to use: ``ptb`` with ``lstm1``/``lstm2``/``lstm3``, ``sngan_resnet`` on
``cifar10`` (metric ``fid``). The IWSLT transformer is ``transformer_iwslt_de_en`` on
``iwslt14_de_en`` (metric ``bleu``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

COORDINATES = ("optimizer", "model", "dataset", "metric")
UNITS = ("%", "error%", "ppl", "FID", "BLEU")


@dataclass(frozen=True)
class Entry:
    """One row or column of a printed table: its label and the coordinates it fixes."""

    label: str
    keys: dict[str, str]


@dataclass(frozen=True)
class Layout:
    paper: str
    table: str
    caption: str
    row_header: str
    rows: tuple[Entry, ...]
    cols: tuple[Entry, ...]
    unit: str
    at: str = "final"
    defaults: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)

    @property
    def title(self) -> str:
        return f"{PAPER_NAMES[self.paper]} Table {self.table}"

    def cell(self, row: Entry, col: Entry) -> dict[str, str]:
        """Record coordinates of one cell (all of ``COORDINATES``)."""
        return {**self.defaults, **row.keys, **col.keys}

    def cells(self) -> Iterator[tuple[Entry, Entry, dict[str, str]]]:
        for row in self.rows:
            for col in self.cols:
                yield row, col, self.cell(row, col)


PAPER_NAMES = {
    "rame": "RAME",
    "padam": "Padam",
    "adamomentum": "AdaMomentum",
    "adarem": "AdaRem",
    "adal": "AdaL",
}
FIGURES_ONLY = ("rame", "adal")  # these papers publish result figures, no result tables


def _opts(*pairs: tuple[str, str]) -> tuple[Entry, ...]:
    return tuple(Entry(label, {"optimizer": name}) for label, name in pairs)


def _models(*pairs: tuple[str, str]) -> tuple[Entry, ...]:
    return tuple(Entry(label, {"model": name}) for label, name in pairs)


_PADAM_OPTS = _opts(("SGD-Momentum", "sgd"), ("Adam", "adam"), ("Amsgrad", "amsgrad"), ("AdamW", "adamw"),
                    ("Yogi", "yogi"), ("AdaBound", "adabound"), ("Padam", "padam"))
_PADAM_CIFAR_MODELS = _models(("VGGNet", "vgg16"), ("ResNet", "resnet18"), ("WideResNet", "wrn16_4"))
_ADAMOMENTUM_OPTS = _opts(("SGDM", "sgd"), ("Adam", "adam"), ("AdamW", "adamw"), ("Yogi", "yogi"),
                          ("AdaBound", "adabound"), ("RAdam", "radam"), ("AdaBelief", "adabelief"),
                          ("Ours", "adamomentum"))

LAYOUTS: dict[tuple[str, str], Layout] = {}


def _add(layout: Layout) -> None:
    LAYOUTS[(layout.paper, layout.table)] = layout


_add(Layout(
    "padam", "1", "Test accuracy (%) of all algorithms after 200 epochs on the CIFAR-10 dataset.",
    "Models", _PADAM_CIFAR_MODELS, _PADAM_OPTS, "%", "final", {"dataset": "cifar10", "metric": "acc"}))
_add(Layout(
    "padam", "2", "Test accuracy (%) of all algorithms after 100 epochs on the ImageNet dataset.",
    "Models / Test Accuracy",
    (Entry("Resnet Top-1", {"model": "resnet18", "metric": "acc"}),
     Entry("Resnet Top-5", {"model": "resnet18", "metric": "acc5"}),
     Entry("VGGNet Top-1", {"model": "vgg16_bn", "metric": "acc"}),
     Entry("VGGNet Top-5", {"model": "vgg16_bn", "metric": "acc5"})),
    _PADAM_OPTS, "%", "final", {"dataset": "imagenet"},
    note="VGGNet on ImageNet is the batch-normalised vgg16_bn (paper footnote 7)."))
_add(Layout(
    "padam", "3", "Test perplexity (lower is better) of all algorithms after 200 epochs on the Penn Treebank dataset.",
    "Models", _models(("2-layer LSTM", "lstm2"), ("3-layer LSTM", "lstm3")), _PADAM_OPTS, "ppl", "final",
    {"dataset": "ptb", "metric": "ppl"}))
_add(Layout(
    "padam", "4", "Final test accuracy (%) of all algorithms on the CIFAR-100 dataset.",
    "Models", _PADAM_CIFAR_MODELS,
    _opts(("SGDM", "sgd"), ("Adam", "adam"), ("Amsgrad", "amsgrad"), ("AdamW", "adamw"), ("Yogi", "yogi"),
          ("AdaBound", "adabound"), ("Padam", "padam")),
    "%", "final", {"dataset": "cifar100", "metric": "acc"}))

_add(Layout(
    "adamomentum", "2", "FID score (lower is better) of Spectral Normalized GAN on CIFAR-10; mean ± std over 5 runs.",
    "", (Entry("FID", {}),),
    _opts(("SGDM†", "sgd"), ("Adam(W)*", "adam"), ("Yogi†", "yogi"), ("AdaBound†", "adabound"),
          ("RAdam†", "radam"), ("AdaBelief†", "adabelief"), ("Ours", "adamomentum")),
    "FID", "final", {"model": "sngan_resnet", "dataset": "cifar10", "metric": "fid"},
    note="† reported in Zhuang et al. (2020); * Adam equals AdamW here (optimal weight decay 0)."))
_add(Layout(
    "adamomentum", "3", "Test accuracy (%) of CNNs on CIFAR-10 dataset; mean ± std over 5 seeds.",
    "Architecture", _models(("VGGNet-16", "vgg16"), ("ResNet-34", "resnet34"), ("DenseNet-121", "densenet121")),
    _ADAMOMENTUM_OPTS, "%", "final", {"dataset": "cifar10", "metric": "acc"}))
_add(Layout(
    "adamomentum", "4", "Top-1 test accuracy (%) on ImageNet dataset (ResNet-18); mean ± std over 5 seeds.",
    "", (Entry("Top-1", {}),), _ADAMOMENTUM_OPTS, "%", "final",
    {"model": "resnet18", "dataset": "imagenet", "metric": "acc"}))
_add(Layout(
    "adamomentum", "5", "Test perplexity (lower is better) of LSTMs on Penn Treebank dataset; mean ± std over 5 seeds.",
    "Layer #", _models(("1", "lstm1"), ("2", "lstm2"), ("3", "lstm3")), _ADAMOMENTUM_OPTS, "ppl", "best",
    {"dataset": "ptb", "metric": "ppl"},
    note="The paper reports the best test perplexity over training; ours is the test value at the "
         "validation-best epoch."))
_add(Layout(
    "adamomentum", "6", "BLEU score (higher is better) on IWSLT'14 DE-EN dataset; mean ± std over 5 seeds.",
    "", (Entry("BLEU", {}),),
    _opts(("SGDM", "sgd"), ("Adam", "adam"), ("AdamW", "adamw"), ("AdaBelief", "adabelief"), ("Ours", "adamomentum")),
    "BLEU", "final", {"model": "transformer_iwslt_de_en", "dataset": "iwslt14_de_en", "metric": "bleu"},
    note="The paper averages the last 5 checkpoints; ours too: the final BLEU is the beam search (beam 5, "
         "lenpen 1.0) of the mean of the last 5 epochs' weights, tokenised sacreBLEU (tok:none, smooth:none)."))

_add(Layout(
    "adarem", "1", "Final test accuracy (%) of various networks on the ImageNet dataset (Top-1).",
    "Model",
    _models(("ResNet50", "resnet50"), ("ResNet18", "resnet18"), ("MobileNetV2-1.0", "mobilenet_v2"),
            ("MobileNetV2-0.5", "mobilenet_v2_x0_5"), ("ShuffleNetV2-1.0", "shufflenet_v2_x1_0"),
            ("ShuffleNetV2-0.5", "shufflenet_v2_x0_5")),
    _opts(("SGDM", "sgd"), ("AdaRem-S", "adarems")), "%", "final", {"dataset": "imagenet", "metric": "acc"}))
_add(Layout(
    "adarem", "2", "Final test accuracy (%) of all algorithms on the ImageNet dataset.",
    "Models",
    (Entry("ResNet-18 Top-1", {"metric": "acc"}), Entry("ResNet-18 Top-5", {"metric": "acc5"})),
    _opts(("SGDM", "sgd"), ("Adam", "adam"), ("AdamW", "adamw"), ("AdaBound", "adabound"), ("RMSprop", "rmsprop"),
          ("AdaRem", "adarem")),
    "%", "final", {"model": "resnet18", "dataset": "imagenet"}))
_add(Layout(
    "adarem", "3", "Test perplexity of LSTM models on the Penn Treebank dataset (lower is better).",
    "Optimizers", (Entry("Perplexity", {}),), _opts(("SGDM", "sgd"), ("Adam", "adam"), ("AdaRem", "adarem")),
    "ppl", "final", {"model": "lstm3", "dataset": "ptb", "metric": "ppl"},
    note="Model setup of Merity et al. (2017) (AWD-LSTM, 3 layers by default); the layer count is not stated."))


# How each paper draws its training curves (curves.py): the test panel as accuracy or error.
# The papers' text does not state the loss axis scale; train loss is drawn on a log axis
# (it spans orders of magnitude over a schedule with decays) unless a value is <= 0.
FIGURE_STYLE: dict[str, dict[str, str]] = {
    "padam": {"test": "error%"},        # Fig. 2/4: "train loss and test error (top-1)"
    "adarem": {"test": "error%"},       # Fig. 4/5: "train loss and test error"
    "adamomentum": {"test": "%"},       # Fig. 3: train/test accuracy (%)
    "rame": {"test": "%"},              # Fig. 1/2: training loss, validation accuracy
    "adal": {"test": "%"},              # Fig. 5-8: accuracy and loss curves
}


def get_layout(paper: str | None, table: str | None) -> Layout | None:
    """The layout of ``paper`` Table ``table``, or ``None`` (figure, or no such table)."""
    if paper is None or table is None:
        return None
    return LAYOUTS.get((str(paper), str(table)))
