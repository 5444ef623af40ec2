"""The vision config groups compose, build what they name, and run end to end in smoke mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from torch import nn
from torchvision.models import ResNet as TorchvisionResNet

from bench.config import DATASET_METADATA_KEYS, build
from tasks.vision.cifar import CIFARDataModule
from tasks.vision.imagenet import ImageNetDataModule
from tests.conftest import REPO, records, run_bench

CIFAR_MODELS = ["vgg16", "vgg16_paper", "vgg16_keras", "resnet18", "resnet34", "resnet20", "resnet20_keras", "wrn16_4", "densenet121", "mlp_keras"]
IMAGENET_MODELS = ["resnet18", "resnet50", "vgg16_bn", "mobilenet_v2", "mobilenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x0_5"]


def composed(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=["lr=0.1", *overrides])


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("model", CIFAR_MODELS)
@pytest.mark.parametrize("dataset,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_model_configs_build_with_the_dataset_head(model: str, dataset: str, classes: int) -> None:
    cfg = composed(f"model={model}", f"dataset={dataset}")
    assert cfg.model.name == model
    net = build(cfg.model)
    assert net.__class__.__module__ == "tasks.vision.cifar_models" or isinstance(net, nn.Sequential)
    last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    assert last.out_features == classes


@pytest.mark.parametrize("model", IMAGENET_MODELS)
def test_imagenet_model_configs_build(model: str) -> None:
    cfg = composed(f"model={model}", "dataset=imagenet")
    net = build(cfg.model)
    assert [m for m in net.modules() if isinstance(m, nn.Linear)][-1].out_features == 1000


def test_resnet18_with_imagenet_gets_the_imagenet_stem() -> None:
    net = build(composed("model=resnet18", "dataset=imagenet").model)
    assert isinstance(net, TorchvisionResNet) and n_params(net) == 11_689_512  # torchvision resnet18
    assert n_params(build(composed("model=resnet18", "dataset=cifar10").model)) == 11_173_962  # CIFAR stem
    assert n_params(build(composed("model=vgg16", "dataset=imagenet").model)) == 138_365_992  # vgg16_bn


def test_mobilenet_and_shufflenet_widths_differ_by_config_name() -> None:
    counts = {m: n_params(build(composed(f"model={m}", "dataset=imagenet").model)) for m in IMAGENET_MODELS[3:]}
    assert counts["mobilenet_v2"] == 3_504_872 and counts["mobilenet_v2_x0_5"] < 2_000_000
    assert counts["shufflenet_v2_x1_0"] == 2_278_604 and counts["shufflenet_v2_x0_5"] == 1_366_792


def test_dataset_configs_build_data_modules_with_paths_data() -> None:
    cfg = composed("dataset=cifar100", "paths.data=/somewhere", "seed=7")
    dm = build(cfg.dataset, DATASET_METADATA_KEYS, smoke=True)
    assert isinstance(dm, CIFARDataModule)
    assert (dm.data_dir, dm.variant, dm.seed, dm.val_size, dm.smoke, dm.batch_size) == ("/somewhere", "cifar100", 7, 5000, True, 128)
    assert dm.spec.num_classes == cfg.dataset.num_classes == 100
    assert dm.channels_last is False  # follows trainer.channels_last when the trainer preset has it
    dm = build(composed("dataset=imagenet", "paths.data=/big").dataset, DATASET_METADATA_KEYS)
    assert isinstance(dm, ImageNetDataModule) and dm.data_dir == "/big/imagenet" and dm.batch_size == 256


@pytest.mark.parametrize("model,dataset,loader", [("resnet20", "cifar10", "auto"), ("vgg16", "cifar100", "torchvision")])
def test_smoke_cell_end_to_end(cifar_root: Path, runs: Path, model: str, dataset: str, loader: str) -> None:
    assert run_bench(
        f"model={model}", f"dataset={dataset}", "optimizer=sgd", "lr=0.05", "epochs=1", "+smoke=true",
        f"paths.data={cifar_root}", f"paths.runs={runs}", "dataset.verify_md5=false", "dataset.val_size=20",
        "dataset.batch_size=16", "dataset.num_workers=0", f"dataset.device_loader={loader}",
    ) == 0
    [rec] = records(runs)
    assert rec["status"] == "ok", rec["error"]
    assert rec["identity"]["model"] == model and rec["identity"]["dataset"] == dataset
    entry = rec["history"][0]
    for key in ("train_loss", "val_acc", "test_acc"):
        assert 0 <= entry[key] < 10, key


def test_missing_cifar_stops_the_launch_with_the_fix(tmp_path: Path, runs: Path, capsys) -> None:
    """Caught by the plan-time preflight: exit 2 and one line, not one failed record per cell."""
    assert run_bench("model=resnet20", "dataset=cifar10", "lr=0.05", "epochs=1", f"paths.data={tmp_path}", f"paths.runs={runs}") == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "CIFAR-10 not found" in line and str(tmp_path / "cifar-10-batches-py") in line and "dataset.download=true" in line
    assert records(runs) == []


def test_vgg16_paper_variant_adds_two_512_node_fc_layers() -> None:
    """Padam App. C.2 / footnote 7: two 512-node FC layers before the classifier; the code's VGG has none."""
    code = build(composed("model=vgg16", "dataset=cifar10").model)
    paper = build(composed("model=vgg16_paper", "dataset=cifar10").model)
    assert n_params(paper) - n_params(code) == 2 * (512 * 512 + 512)
    widths = [(m.in_features, m.out_features) for m in paper.classifier if isinstance(m, nn.Linear)]
    assert widths == [(512, 512), (512, 512), (512, 10)]
    assert isinstance(code.classifier, nn.Linear)
