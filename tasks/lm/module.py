"""Language modelling as a LightningModule: truncated BPTT, perplexity, AWD-LSTM's lr scaling.

- Training: the hidden state is carried from window to window (detached) and reset at each
  epoch start; the loss is the mean token cross-entropy plus the model's AR/TAR penalty;
  ``train_loss`` is the epoch's mean token cross-entropy without the penalty (dropout on),
  ``train_ppl = exp(train_loss)``.
- Variable BPTT: a window carries ``lr_scale`` (its length / ``bptt``); the step runs with
  every param group's lr multiplied by it, and the lr is put back right after the step, so
  the schedule (and the lr the record shows) never sees the scaling.
- Randomness (dropout, weight drop): the global generator is reseeded from ``(seed, step)``
  before each training step, so a resumed cell repeats the uninterrupted run exactly
  (tested on CPU); every data-parallel rank draws the same masks, as one device draws one
  weight-drop mask per step.
- Evaluation: validation loader 0 is the validation split, loader 1 the test split; each is
  read whole, the state carried across its windows from zero; ``{val,test}_loss`` is the
  mean token negative log-likelihood over the split and ``{val,test}_ppl = exp`` of it, the
  sums reduced across data-parallel ranks once per evaluation.

The reference divides the summed loss by the number of rows of the evaluation grid, which
is one more than the number of predicted rows; we divide by the tokens predicted, the
definition of perplexity (a 1/rows relative difference in the loss: 1e-5 on PTB's test set).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tasks.base import SPLITS, OptimizerFactory, SchedulerFactory, Task
from tasks.lm.models import detach_state
from tasks.lm.streams import Window
from tasks.metric import PERPLEXITY


class LanguageModelTask(Task):
    metric = PERPLEXITY
    logged_keys = ("train_loss", "train_ppl", "val_loss", "val_ppl", "test_loss", "test_ppl")

    def __init__(self, model: nn.Module, optimizer_factory: OptimizerFactory,
                 scheduler_factory: SchedulerFactory | None = None, divergence_check_every: int = 1) -> None:
        super().__init__(model, optimizer_factory, scheduler_factory, divergence_check_every)
        self.state: Any = None
        self._lr_scale = 1.0
        self._train_sums: Tensor | None = None

    # --- training -------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self._base_seed = torch.initial_seed()  # the cell's seed (the runner seeds before building)

    def on_train_epoch_start(self) -> None:
        self.state = None  # each pass over the training streams starts from a zero state
        self._train_sums = torch.zeros(2, dtype=torch.float64, device=self.device)

    def on_train_batch_start(self, batch: Window, batch_idx: int) -> None:
        self._lr_scale = float(batch.lr_scale)
        # dropout masks drawn from (seed, step): a resumed run draws the masks an uninterrupted
        # one does (Lightning does not checkpoint the global generator)
        torch.manual_seed((getattr(self, "_base_seed", 0) * 1_000_003 + self.global_step) % 2**63)

    def training_step(self, batch: Window, batch_idx: int) -> Tensor:
        out = self.model(batch.input, self.state)
        self.state = detach_state(out.state)  # truncated BPTT: carry the values, not the graph
        nll = F.cross_entropy(out.logits.flatten(0, 1), batch.target.flatten())
        loss = nll + out.penalty
        if self._train_sums is None:  # resumed mid-epoch: on_train_epoch_start was not called
            self._train_sums = torch.zeros(2, dtype=torch.float64, device=self.device)
        n = batch.target.numel()
        self._train_sums += torch.stack([nll.detach().double() * n, nll.new_tensor(n, dtype=torch.float64)])
        self.check_finite(loss, "training loss", step=batch_idx)
        return loss

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
        """The step at ``lr * lr_scale`` (variable BPTT), the lr restored right after it."""
        scale = self._lr_scale
        if scale == 1.0:
            return super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        groups = optimizer.param_groups
        saved = [group["lr"] for group in groups]
        for group, lr in zip(groups, saved):
            group["lr"] = lr * scale
        try:
            return super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        finally:
            for group, lr in zip(groups, saved):
                group["lr"] = lr

    def on_train_epoch_end(self) -> None:
        self._log_train()

    def _log_train(self) -> None:
        """The epoch's mean training NLL so far (all ranks); at epoch ends and evaluations
        (under a step budget the record takes its rows at evaluations)."""
        if self._train_sums is None:
            return
        sums = self.trainer.strategy.reduce(self._train_sums, reduce_op="sum")
        if sums[1] == 0:
            return
        loss = (sums[0] / sums[1]).item()
        self.check_finite(loss, "training loss")
        self.log_dict({"train_loss": loss, "train_ppl": _exp(loss)}, sync_dist=False)

    # --- evaluation -----------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._eval = {s: torch.zeros(2, dtype=torch.float64, device=self.device) for s in SPLITS}
        self._eval_state: dict[str, Any] = {s: None for s in SPLITS}

    def validation_step(self, batch: Window, batch_idx: int, dataloader_idx: int = 0) -> None:
        split = SPLITS[dataloader_idx]
        out = self.model(batch.input, self._eval_state[split])
        self._eval_state[split] = out.state
        nll = F.cross_entropy(out.logits.flatten(0, 1).float(), batch.target.flatten(), reduction="sum")
        n = batch.target.numel() * batch.weight
        self._eval[split] += torch.stack([nll.double() * batch.weight, nll.new_tensor(n, dtype=torch.float64)])

    def on_validation_epoch_end(self) -> None:
        for split, sums in self._eval.items():
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
            if sums[1] > 0:
                loss = (sums[0] / sums[1]).item()
                self.log_dict({f"{split}_loss": loss, f"{split}_ppl": _exp(loss)}, add_dataloader_idx=False,
                              sync_dist=False)
        if self.trainer.state.fn == "fit":
            self._log_train()

    @classmethod
    def fit_check(cls, model: nn.Module, batch: Window) -> None:
        """Plan time, meta device: the model takes a window of token ids and returns vocabulary logits."""
        out = model.eval()(batch.input)
        vocab = getattr(model, "vocab_size", None)
        if tuple(out.logits.shape[:2]) != tuple(batch.input.shape) or (vocab and out.logits.shape[-1] != vocab):
            raise ValueError(f"logits of shape {tuple(out.logits.shape)} for windows of {tuple(batch.input.shape)}")

    # --- checkpoint -----------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # a mid-epoch checkpoint (step budget) resumes the carried state and the epoch's sums
        checkpoint["lm_state"] = {"state": self.state, "train_sums": self._train_sums}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("lm_state") or {}
        self.state, self._train_sums = saved.get("state"), saved.get("train_sums")


def _exp(loss: float) -> float:
    return math.exp(loss) if loss < 700 else float("inf")
