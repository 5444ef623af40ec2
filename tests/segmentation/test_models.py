"""The smp FPN builder: random init recorded, local checkpoints loaded, never a download."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from tasks.segmentation.models import RANDOM_INIT_NOTE, fpn
from tasks.vision.errors import DataCorruptError, DataNotFoundError


def test_random_init_is_noted_and_output_is_one_channel() -> None:
    model = fpn("resnet18")
    assert model.encoder_init == RANDOM_INIT_NOTE
    assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_local_torchvision_checkpoint_is_loaded(tmp_path: Path) -> None:
    torch.manual_seed(3)
    reference = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)  # includes fc.*, which the encoder has no place for
    model = fpn("resnet18", encoder_checkpoint=str(path))
    assert torch.equal(model.encoder.conv1.weight, reference.conv1.weight)
    assert torch.equal(model.encoder.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    assert model.encoder_init == f"encoder weights from {path}"


def test_bad_checkpoints_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="model.encoder_checkpoint not found: .*nope.pth"):
        fpn("resnet18", encoder_checkpoint=str(tmp_path / "nope.pth"))
    wrong = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), wrong)
    with pytest.raises(DataCorruptError, match="does not fit the encoder"):
        fpn("resnet18", encoder_checkpoint=str(wrong))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(DataCorruptError, match="cannot be read"):
        fpn("resnet18", encoder_checkpoint=str(junk))
