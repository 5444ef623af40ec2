"""The language-model task through the real evaluation path and ``run_cell``: perplexity,
whole-stream evaluation, carried state, AWD-LSTM lr scaling, resume, rank independence."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from torch import nn

from bench.cell import run_cell
from bench.plan import CONF_DIR
from tasks.lm.data import PTBDataModule
from tasks.lm.models import AWDLSTM, LMOutput, PlainLSTM
from tasks.lm.module import LanguageModelTask
from tasks.lm.streams import batchify, epoch_rng, rank_loader, variable_windows
from tests.lm.conftest import VOCAB

HERE = "tests.lm.test_module"


class Uniform(nn.Module):
    """Equal logits for every word: perplexity must be the vocabulary size."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, tokens: torch.Tensor, state: Any = None) -> LMOutput:
        return LMOutput(self.bias.expand(*tokens.shape, self.vocab_size), state, 0.0)


class Bigram(nn.Module):
    """Stateless: the logits depend on the current token only."""

    def __init__(self, vocab_size: int, seed: int = 0) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(vocab_size, vocab_size, generator=torch.Generator().manual_seed(seed)))

    def forward(self, tokens: torch.Tensor, state: Any = None) -> LMOutput:
        return LMOutput(self.table[tokens], state, 0.0)


def _sgd(params, role: str = "model") -> torch.optim.Optimizer:  # noqa: ANN001
    return torch.optim.SGD(params, lr=0.1)


def _evaluate(model: nn.Module, data: PTBDataModule) -> dict[str, float]:
    data.setup("fit")
    module = LanguageModelTask(model, _sgd)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         enable_model_summary=False)
    trainer.validate(module, dataloaders=data.val_dataloader(), verbose=False)  # [val, test]
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def test_a_uniform_model_has_the_vocabulary_size_as_perplexity(ptb_dir: Path) -> None:
    metrics = _evaluate(Uniform(VOCAB), PTBDataModule(str(ptb_dir), VOCAB, bptt=13))
    assert metrics["val_ppl"] == pytest.approx(VOCAB, rel=1e-6)
    assert metrics["test_ppl"] == pytest.approx(VOCAB, rel=1e-6)
    assert metrics["val_loss"] == pytest.approx(math.log(VOCAB), rel=1e-6)


@pytest.mark.parametrize("streams,bptt", [(1, 70), (3, 13), (10, 70), (7, 5)])
def test_evaluation_reads_the_whole_stream_for_any_batch_and_window(ptb_dir: Path, streams: int, bptt: int) -> None:
    """A stateless model's evaluation through the loaders equals the mean NLL computed in one go
    over exactly the (input, target) pairs of the ``streams``-column grid: no window drops or
    repeats a token, whatever the evaluation batch size and window length."""
    model = Bigram(VOCAB)
    data = PTBDataModule(str(ptb_dir), VOCAB, eval_batch_size=streams, test_batch_size=streams, bptt=bptt)
    metrics = _evaluate(model, data)
    for split, name in (("val", "valid"), ("test", "test")):
        grid = batchify(data.corpus.split(name), streams)
        logp = torch.log_softmax(model.table.detach()[grid[:-1]], dim=-1)
        nll = -logp.gather(-1, grid[1:].unsqueeze(-1)).double().mean().item()
        assert metrics[f"{split}_loss"] == pytest.approx(nll, rel=1e-6)
        assert metrics[f"{split}_ppl"] == pytest.approx(math.exp(nll), rel=1e-6)


@pytest.mark.parametrize("world", [2, 3, 4, 11])
def test_evaluation_sums_do_not_depend_on_the_number_of_ranks(ptb_dir: Path, world: int) -> None:
    """Each rank evaluates its own block of the 10 validation columns (a padding rank counts
    nothing); the summed NLL and token count equal one process's, for a stateful model."""
    torch.manual_seed(0)
    model = AWDLSTM(VOCAB, 8, 12, layers=2).eval()
    stream = PTBDataModule(str(ptb_dir), VOCAB)._load().valid

    def sums(rank: int, w: int) -> torch.Tensor:
        module = LanguageModelTask(model, _sgd)
        module.on_validation_epoch_start()
        with torch.no_grad():
            for i, window in enumerate(rank_loader(stream, 10, 9, rank, w)):
                module.validation_step(window, i)
        return module._eval["val"]

    one = sums(0, 1)
    many = sum(sums(r, world) for r in range(world))
    assert many[1] == one[1] == (stream.numel() // 10 - 1) * 10
    assert many[0].item() == pytest.approx(one[0].item(), rel=1e-6)


# --- through run_cell -----------------------------------------------------------------------
def _cell(runs: Path, data: Path, *overrides: str, **top: Any) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "experiment=ptb_small", f"paths.runs={runs}", f"paths.data={data}", f"dataset.num_classes={VOCAB}",
            "optimizer=sgd", "lr=1.0", "seed=0", "dataset.train_tokens=null", *overrides])
    OmegaConf.set_struct(cfg, False)
    for key, value in top.items():
        OmegaConf.update(cfg, key, value, merge=False)
    return cfg


class ProbeLSTM(PlainLSTM):
    """Notes the state each training forward receives."""

    calls: list[tuple[bool, bool]] = []  # (state is None, state has a graph)

    def forward(self, tokens: torch.Tensor, state: Any = None) -> LMOutput:
        if tokens.is_meta:  # the runner's plan-time/FLOP-count passes on the meta device, not training
            return super().forward(tokens, state)
        if self.training:
            ProbeLSTM.calls.append((state is None, state is not None and state[0].grad_fn is not None))
            if state is not None:
                assert torch.equal(state[0], ProbeLSTM.last[0])  # the previous window's final state
        out = super().forward(tokens, state)
        if self.training:
            ProbeLSTM.last = tuple(s.detach() for s in out.state)
        return out


class LrProbeSGD(torch.optim.SGD):
    lrs: list[float] = []

    def step(self, closure: Any = None) -> Any:
        LrProbeSGD.lrs.append(self.param_groups[0]["lr"])
        return super().step(closure)


def test_state_is_carried_detached_across_windows_and_reset_each_epoch(tmp_path: Path, ptb_dir: Path) -> None:
    ProbeLSTM.calls.clear()
    cfg = _cell(tmp_path / "runs", ptb_dir.parent, "epochs=2", "dataset.bptt=10")
    cfg.model._target_ = f"{HERE}.ProbeLSTM"
    record = run_cell(cfg)
    assert record["status"] == "ok", record["error"]
    windows = -(-(PTBDataModule(str(ptb_dir))._load().train.numel() // 20 - 1) // 10)
    assert len(ProbeLSTM.calls) == 2 * windows
    for epoch in range(2):
        calls = ProbeLSTM.calls[epoch * windows:(epoch + 1) * windows]
        assert calls[0] == (True, False)                      # zero state at each epoch start
        assert all(c == (False, False) for c in calls[1:])    # carried, without its graph


def test_variable_bptt_scales_each_step_lr_and_restores_the_schedule(tmp_path: Path, ptb_dir: Path) -> None:
    LrProbeSGD.lrs.clear()
    cfg = _cell(tmp_path / "runs", ptb_dir.parent, "epochs=3", "dataset.variable_bptt=true", "dataset.bptt=12",
                "schedule=multistep", "schedule.milestones=[1]", "schedule.gamma=0.1", "seed=4")
    cfg.optimizer._target_ = f"{HERE}.LrProbeSGD"
    record = run_cell(cfg)
    assert record["status"] == "ok", record["error"]
    rows = PTBDataModule(str(ptb_dir))._load().train.numel() // 20
    expected = []
    for epoch, base in enumerate([1.0, 0.1, 0.1]):
        expected += [base * scale for _, _, scale in variable_windows(rows, 12, epoch_rng(4, epoch))]
    assert LrProbeSGD.lrs == pytest.approx(expected, rel=1e-12)
    assert len(set(LrProbeSGD.lrs)) > 5  # the lengths did vary
    assert [h["lr"] for h in record["history"]] == pytest.approx([1.0, 0.1, 0.1])  # the schedule never saw the scaling


def _awd(runs: Path, data: Path) -> DictConfig:
    return _cell(runs, data, "model=lstm2", "model.embedding_size=8", "model.hidden_size=12", "epochs=3",
                 "dataset.variable_bptt=true", "dataset.bptt=10", "grad_clip=0.25", "lr=5.0")


def test_a_crashed_awd_lstm_cell_resumes_to_the_uninterrupted_history(tmp_path: Path, ptb_dir: Path, monkeypatch) -> None:
    fresh = run_cell(_awd(tmp_path / "fresh", ptb_dir.parent))
    assert fresh["status"] == "ok", fresh["error"]
    original = LanguageModelTask.on_train_epoch_start

    def crash_in_epoch_2(self) -> None:  # noqa: ANN001
        if self.current_epoch == 2:
            raise RuntimeError("simulated crash")
        original(self)

    monkeypatch.setattr(LanguageModelTask, "on_train_epoch_start", crash_in_epoch_2)
    crashed = run_cell(_awd(tmp_path / "runs", ptb_dir.parent))
    assert crashed["status"] == "failed" and len(crashed["history"]) == 2
    monkeypatch.setattr(LanguageModelTask, "on_train_epoch_start", original)
    resumed = run_cell(_awd(tmp_path / "runs", ptb_dir.parent))
    assert resumed["status"] == "ok" and resumed["resumed_from"].endswith("last.ckpt")
    strip = lambda hs: [{k: v for k, v in h.items() if k != "time"} for h in hs]  # noqa: E731
    assert strip(resumed["history"]) == strip(fresh["history"])
    assert fresh["history"][-1]["val_ppl"] < fresh["history"][0]["val_ppl"] * 1.5  # trained, did not blow up


def _steps(runs: Path, data: Path) -> DictConfig:
    return _cell(runs, data, "model=lstm1", "model.embedding_size=8", "model.hidden_size=12", "max_steps=9",
                 "eval_every=3", "dataset.variable_bptt=true", "dataset.bptt=10", "grad_clip=0.25", "lr=5.0")


def test_a_step_budget_takes_rows_at_evaluations_and_resumes_mid_epoch(tmp_path: Path, ptb_dir: Path,
                                                                       monkeypatch) -> None:
    fresh = run_cell(_steps(tmp_path / "fresh", ptb_dir.parent))
    assert fresh["status"] == "ok", fresh["error"]
    assert [h["step"] for h in fresh["history"]] == [3, 6, 9] and {h["epoch"] for h in fresh["history"]} == {0}
    assert all("train_ppl" in h and "val_ppl" in h for h in fresh["history"])

    original = LanguageModelTask.training_step

    def crash_at_step_7(self, batch, batch_idx):  # noqa: ANN001
        if self.global_step == 7:
            raise RuntimeError("simulated crash")
        return original(self, batch, batch_idx)

    monkeypatch.setattr(LanguageModelTask, "training_step", crash_at_step_7)
    crashed = run_cell(_steps(tmp_path / "runs", ptb_dir.parent))
    assert crashed["status"] == "failed" and [h["step"] for h in crashed["history"]] == [3, 6]
    monkeypatch.setattr(LanguageModelTask, "training_step", original)
    resumed = run_cell(_steps(tmp_path / "runs", ptb_dir.parent))  # from the step-6 checkpoint, mid-epoch
    assert resumed["status"] == "ok" and resumed["resumed_from"].endswith("last.ckpt")
    strip = lambda hs: [{k: v for k, v in h.items() if k != "time"} for h in hs]  # noqa: E731
    assert strip(resumed["history"]) == strip(fresh["history"])
