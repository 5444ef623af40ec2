"""FPN on a ResNet encoder from segmentation-models-pytorch, one sigmoid (logit) channel.

``encoder_weights=None`` always: smp never downloads. ImageNet weights come from a local
checkpoint (``encoder_checkpoint``): a torchvision ``resnet*.pth`` state dict (e.g.
``resnet152-394f9c45.pth`` / ``resnet152-f82ba261.pth``), or a dict holding one under
``state_dict``/``model``; the classifier (``fc.*``) is dropped. Without one the encoder is
randomly initialised and :func:`init_note` says so (the module stores it in the record).

smp's FPN differs in detail from the cited Keras ``resnet152_fpn`` (256-channel pyramid in
both; smp: 128-channel segmentation heads summed, then x4 bilinear upsampling; Keras: the
heads concatenated, an extra stride-2 decoder stage with a skip from conv1). The paper only
says "FPN, ResNet152 backend".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from tasks.vision.errors import DataCorruptError, DataNotFoundError

RANDOM_INIT_NOTE = ("encoder randomly initialised: no model.encoder_checkpoint given (the paper fine-tunes an "
                    "ImageNet ResNet-152; pass a local torchvision resnet152 .pth to match it)")


def fpn(encoder: str = "resnet152", encoder_checkpoint: str | None = None, classes: int = 1,
        decoder_dropout: float = 0.2, **_: Any) -> nn.Module:
    """``smp.FPN(encoder, encoder_weights=None, classes=classes)``, encoder from ``encoder_checkpoint``."""
    import segmentation_models_pytorch as smp

    model = smp.FPN(encoder_name=encoder, encoder_weights=None, classes=int(classes), activation=None,
                    decoder_dropout=float(decoder_dropout))
    model.encoder_init = RANDOM_INIT_NOTE
    if encoder_checkpoint:
        load_encoder(model.encoder, encoder_checkpoint)
        model.encoder_init = f"encoder weights from {encoder_checkpoint}"
    return model


def load_encoder(encoder: nn.Module, checkpoint: str | Path) -> None:
    """Load a local ImageNet classifier state dict into ``encoder`` (strict, minus ``fc.*``)."""
    import torch

    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise DataNotFoundError(f"model.encoder_checkpoint not found: '{path}'; it is torchvision's ImageNet "
                                f"checkpoint of the encoder (e.g. resnet152-394f9c45.pth from the torchvision model zoo)")
    if next(encoder.parameters()).is_meta:
        return  # plan-time fit check on the meta device: nothing to load into
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same one-line error
        raise DataCorruptError(f"model.encoder_checkpoint '{path}' cannot be read ({type(exc).__name__}: {exc})") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith("fc.")}
    missing, unexpected = nn.Module.load_state_dict(encoder, state, strict=False)
    if missing or unexpected:
        raise DataCorruptError(f"model.encoder_checkpoint '{path}' does not fit the encoder: "
                               f"{len(missing)} missing keys (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})")
