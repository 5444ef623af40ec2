"""Translation as a LightningModule: label-smoothed cross-entropy, beam-search BLEU.

- budgets: epochs (the recipe) or ``max_steps``/``eval_every`` (then ``train_loss`` is the mean
  since the previous evaluation and only the final weights are "averaged").
- training: ``F.cross_entropy(label_smoothing=0.1, ignore_index=<pad>)`` summed over target
  tokens and divided by their number (fairseq's ``label_smoothed_cross_entropy`` with
  ``sentence_avg`` off: the same formula, ``(1-e)·nll + e/V·sum(-log p)``); logs ``train_loss``
  (natural log, per token).
- every evaluation (validation = dataloader 0, test = dataloader 1): teacher-forced
  ``{val,test}_loss`` / ``_nll`` / ``_ppl`` per target token; beam-search BLEU
  (``{val,test}_bleu``, :mod:`.bleu`) every ``bleu_every`` epochs (0: only at the end).
- the last ``average_last`` epochs' weights are summed (:class:`.averaging.RunningAverage`);
  the final evaluation uses their mean (under a step budget: the final weights), as the
  reference's ``average_checkpoints.py --num-epoch-checkpoints 5`` + ``generate.py``, and writes
  it to ``<run dir>/averaged.pt``.
  The raw weights are put back afterwards, so ``last.ckpt`` stays the training state.
- selection metric: ``bleu`` (max). Over a sweep ``results`` picks by ``val_bleu``, which is
  only computed at the end, i.e. the averaged model's validation BLEU.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from tasks.base import SPLITS, OptimizerFactory, SchedulerFactory, Task
from tasks.metric import BLEU
from tasks.translation import bleu
from tasks.translation.averaging import RunningAverage
from tasks.translation.models import Transformer
from tasks.translation.search import beam_search
from tasks.translation.vocab import PAD_ID, Dictionary

SAMPLES = 5  # translations kept in the record from the latest BLEU evaluation


class TranslationModule(Task):
    metric = BLEU
    logged_keys = ("train_loss", "val_loss", "val_nll", "val_ppl", "val_bleu",
                   "test_loss", "test_nll", "test_ppl", "test_bleu")

    def __init__(self, model: Transformer, optimizer_factory: OptimizerFactory,
                 scheduler_factory: SchedulerFactory | None = None, dict_path: str | None = None,
                 label_smoothing: float = 0.1, beam: int = 5, lenpen: float = 1.0, max_len_a: float = 0.0,
                 max_len_b: int = 200, bleu_every: int = 0, average_last: int = 5,
                 divergence_check_every: int = 1) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"module.label_smoothing must be in [0, 1), got {label_smoothing}")
        if beam < 1 or average_last < 1 or bleu_every < 0:
            raise ValueError("module.beam and module.average_last must be >= 1, module.bleu_every >= 0")
        super().__init__(model, optimizer_factory, scheduler_factory, divergence_check_every)
        self.label_smoothing, self.beam, self.lenpen = float(label_smoothing), int(beam), float(lenpen)
        self.max_len_a, self.max_len_b = float(max_len_a), int(max_len_b)
        self.bleu_every, self.average_last = int(bleu_every), int(average_last)
        self.dict_path = dict_path
        self._dictionary: Dictionary | None = None
        self.average = RunningAverage()
        self._raw_state: dict[str, Tensor] | None = None
        self._averaged_epochs: list[int] = []
        self._samples: dict[str, list[dict[str, str]]] = {}

    @property
    def dictionary(self) -> Dictionary:
        if self._dictionary is None:
            if self.dict_path is None:
                raise ValueError("module.dict_path is needed to turn ids into text for BLEU")
            self._dictionary = Dictionary.load(Path(self.dict_path))
        return self._dictionary

    def forward(self, src: Tensor, prev: Tensor) -> Tensor:
        return self.model(src, prev)

    def _losses(self, batch: tuple[Tensor, Tensor, Tensor], with_nll: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """(label-smoothed loss sum, nll sum (0 unless ``with_nll``), target tokens)."""
        src, prev, tgt = batch
        logits = self.model(src, prev).float().flatten(0, 1)
        target = tgt.flatten()
        loss = F.cross_entropy(logits, target, ignore_index=PAD_ID, label_smoothing=self.label_smoothing,
                               reduction="sum")
        nll = (F.cross_entropy(logits.detach(), target, ignore_index=PAD_ID, reduction="sum") if with_nll
               else loss.new_zeros(()))
        return loss, nll, target.ne(PAD_ID).sum()

    # --- training ---------------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._train_sums = torch.zeros(2, device=self.device, dtype=torch.float64)

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        loss_sum, _, ntokens = self._losses(batch, with_nll=False)
        loss = loss_sum / ntokens
        self._train_sums[0] += loss_sum.detach().double()
        self._train_sums[1] += ntokens
        self.check_finite(self._train_sums[0], "training loss", step=batch_idx)
        return loss

    def _train_loss(self) -> float:
        sums = self.trainer.strategy.reduce(self._train_sums, reduce_op="sum")
        value = (sums[0] / sums[1].clamp_min(1)).item()
        self.check_finite(value, "training loss")
        return value

    def on_train_epoch_end(self) -> None:
        if self._epoch_budget():
            self.log("train_loss", self._train_loss())

    @classmethod
    def fit_check(cls, model: Transformer, batch: tuple[Tensor, Tensor, Tensor]) -> None:
        src, prev, _ = batch
        model.eval()(src, prev)

    # --- evaluation -------------------------------------------------------------------------------
    def _epoch_budget(self) -> bool:
        return self.trainer.max_epochs is not None and self.trainer.max_epochs > 0

    def _final_epoch(self) -> bool:
        """The last evaluation: the last epoch, or (step budget) the one after the stop request."""
        if self._epoch_budget():
            return self.current_epoch == self.trainer.max_epochs - 1
        return bool(self.trainer.should_stop)

    def _fitting(self) -> bool:
        return self._trainer is not None and self.trainer.training is False and self.trainer.state.fn == "fit" \
            and not self.trainer.sanity_checking

    def on_validation_epoch_start(self) -> None:
        self._eval = {s: torch.zeros(3, dtype=torch.float64, device=self.device) for s in SPLITS}
        self._text: dict[str, tuple[list[str], list[str]]] = {s: ([], []) for s in SPLITS}
        self._averaged = False
        if not self._fitting():
            self._with_bleu = True
            return
        final = self._final_epoch()
        # epoch budget: the last ``average_last`` epochs; step budget: the final weights only
        if (self.current_epoch >= self.trainer.max_epochs - self.average_last) if self._epoch_budget() else final:
            self.average.add(self.model.state_dict())
            self._averaged_epochs.append(int(self.current_epoch))
        self._with_bleu = final or (self.bleu_every > 0 and (self.current_epoch + 1) % self.bleu_every == 0)
        if final and self.average.count > 0:
            self._raw_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict(self.average.average(self._raw_state))
            self._averaged = True
            if self.trainer.is_global_zero and self.trainer.default_root_dir:
                torch.save(self.model.state_dict(), Path(self.trainer.default_root_dir) / "averaged.pt")

    def translate(self, src: Tensor) -> list[list[int]]:
        """Beam search (``beam``, ``lenpen``, max length ``a * src_len + b``) on a padded batch."""
        batch = src.shape[0]
        state = self.model.start_decoding(src.repeat_interleave(self.beam, dim=0))
        src_len = src.ne(PAD_ID).sum(dim=1)
        max_len = (self.max_len_a * src_len.float() + self.max_len_b).long()
        return beam_search(self.model, state, batch, beam=self.beam, max_len=max_len, lenpen=self.lenpen,
                           device=src.device)

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        split = SPLITS[dataloader_idx]
        loss, nll, ntokens = self._losses(batch)
        self._eval[split] += torch.stack([loss.double(), nll.double(), ntokens.double()])
        if self._with_bleu:
            hyps, refs = self._text[split]
            for hyp, ref in zip(self.translate(batch[0]), batch[2].tolist()):
                hyps.append(bleu.remove_bpe(self.dictionary.string(hyp)))
                refs.append(bleu.remove_bpe(self.dictionary.string(ref, escape_unk=True)))

    def on_validation_epoch_end(self) -> None:
        metrics: dict[str, float] = {}
        if self._fitting() and not self._epoch_budget():  # step budget: the row is taken here
            metrics["train_loss"] = self._train_loss()
            self._train_sums.zero_()  # the mean over the steps since the previous evaluation
        for split in SPLITS:
            sums = self.trainer.strategy.reduce(self._eval[split], reduce_op="sum")
            if sums[2] <= 0:
                continue
            metrics[f"{split}_loss"] = (sums[0] / sums[2]).item()
            metrics[f"{split}_nll"] = (sums[1] / sums[2]).item()
            metrics[f"{split}_ppl"] = math.exp(min(metrics[f"{split}_nll"], 700.0))
            hyps, refs = self._gathered(*self._text[split])
            # every evaluation logs every key (NaN: not decoded this time), so no row shows an older BLEU
            metrics[f"{split}_bleu"] = bleu.corpus_bleu(hyps, refs) if self._with_bleu and hyps else math.nan
        if self._with_bleu:
            self._samples = {split: [{"hyp": h, "ref": r} for h, r in zip(*self._text[split])][:SAMPLES]
                             for split in SPLITS}
        self.log_dict(metrics, add_dataloader_idx=False)
        if self._raw_state is not None:
            self.model.load_state_dict(self._raw_state)
            self._raw_state = None

    def _gathered(self, hyps: list[str], refs: list[str]) -> tuple[list[str], list[str]]:
        """Every rank's translations (BLEU is a corpus statistic, not a sum of per-rank scores)."""
        if self._trainer is None or self.trainer.world_size <= 1 or not self._with_bleu:
            return hyps, refs
        parts: list[Any] = [None] * self.trainer.world_size
        torch.distributed.all_gather_object(parts, (hyps, refs))
        return [h for p in parts for h in p[0]], [r for p in parts for r in p[1]]

    def record_extras(self) -> dict[str, Any]:
        return {"sacrebleu_signature": bleu.signature(), "sacrebleu_settings": dict(bleu.SACREBLEU_SETTINGS),
                "bleu": "fairseq-generate --remove-bpe equivalent: tokenised, lower-cased text",
                "beam": self.beam, "lenpen": self.lenpen, "averaged_epochs": list(self._averaged_epochs), "samples": self._samples}

    # --- state carried across epochs --------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["translation_average"] = self.average.state_dict()
        checkpoint["translation_averaged_epochs"] = list(self._averaged_epochs)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "translation_average" in checkpoint:
            self.average.load_state_dict(checkpoint["translation_average"])
            self._averaged_epochs = list(checkpoint.get("translation_averaged_epochs", []))
