"""adamomentum_table6 / iwslt_small hold the paper's (App. D Table 12) and the reference code's values."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from bench.config import finalize
from tests.conftest import REPO

RECIPES = ("adamomentum_table6",)  # paper recipes this folder covers (tests/vision/test_recipes.py counts them)

# App. D Table 12 and its text: (lr, betas, eps); weight decay 1e-4 for all; SGDM lr 0.1, momentum 0.9
TABLE12 = {"adam": (0.0015, [0.9, 0.98], 1e-8), "adamw": (0.0015, [0.9, 0.98], 1e-8),
           "adabelief": (0.0015, [0.9, 0.999], 1e-16), "adamomentum": (0.0005, [0.9, 0.999], 1e-16)}


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return finalize(compose(config_name="config", overrides=list(overrides)))


@pytest.mark.parametrize("optimizer", [*TABLE12, "sgd"])
def test_table6_optimizer_settings_are_table_12(optimizer: str) -> None:
    base = _compose("experiment=adamomentum_table6", f"optimizer={optimizer}", "lr=0.1")
    assert list(base.sweep.optimizer) == ["sgd", "adam", "adamw", "adabelief", "adamomentum"]
    (lr,) = base.lr_grids[optimizer]
    opt = base.optimizer
    assert opt.weight_decay == 1e-4
    if optimizer == "sgd":
        assert lr == 0.1 and opt.momentum == 0.9
    else:
        assert (lr, list(opt.betas), opt.eps) == TABLE12[optimizer]


def test_table6_training_and_evaluation_settings() -> None:
    cfg = _compose("experiment=adamomentum_table6", "optimizer=adam", "lr=0.0015")
    assert (cfg.epochs, list(cfg.seeds), cfg.grad_clip) == (55, [0, 1, 2, 3, 4], None)
    assert (cfg.schedule.name, cfg.schedule.interval) == ("inverse_sqrt", "step")
    assert (cfg.schedule.warmup_updates, cfg.schedule.warmup_init_lr) == (8000, 1e-7)
    assert (cfg.module.beam, cfg.module.lenpen, cfg.module.average_last, cfg.module.label_smoothing) == (5, 1.0, 5, 0.1)
    assert cfg.dataset.max_tokens == 4096
    m = cfg.model
    assert (m.embed_dim, m.ffn_dim, m.heads, m.encoder_layers, m.decoder_layers) == (512, 1024, 4, 6, 6)
    assert (m.dropout, m.attention_dropout, m.activation_dropout, m.normalize_before) == (0.3, 0.1, 0.1, True)
    assert cfg.reproduces == {"paper": "adamomentum", "table": "6"}


def test_iwslt_small_is_cpu_sized() -> None:
    cfg = _compose("experiment=iwslt_small", "optimizer=adamomentum", "lr=0.0005")
    assert cfg.model.name == "transformer_tiny" and cfg.trainer.accelerator == "cpu"
    assert cfg.dataset.train_limit == 20000 and cfg.reproduces is None
