"""What every probe shares: a measurement window (one epoch, or every N optimizer steps), the
rows it has written, and checkpoint state so a resumed cell keeps its earlier rows."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl


class Probe(pl.Callback):
    """A read-only training diagnostic; subclasses fill ``_open``/``_observe``/``_close``.

    Rows are ``{"epoch", "step", "steps", ...}`` (``step``: steps measured since training began
    when the window closed; ``steps``: steps inside it). ``record_extras()`` is what lands in the record under
    ``extras.probes.<name>``. A probe never writes to a parameter, gradient or optimizer state.
    """

    name: str = ""

    def __init__(self, every_n_steps: int | None = None) -> None:
        if every_n_steps is not None and (isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int)
                                          or every_n_steps < 1):
            raise ValueError(f"probes.{self.name}.every_n_steps: {every_n_steps!r}; allowed: null or an integer >= 1")
        self.every_n_steps = every_n_steps
        self.rows: list[dict[str, Any]] = []
        self._steps = 0
        self._total = 0
        self._open_window = False

    # -- subclass interface
    def _open(self, pl_module: pl.LightningModule) -> None: ...

    def _close(self, pl_module: pl.LightningModule) -> dict[str, Any] | None:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        return {"every_n_steps": self.every_n_steps}

    # -- windowing
    def _start(self, pl_module: pl.LightningModule) -> None:
        self._steps = 0
        self._open(pl_module)
        self._open_window = True

    def _finish(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._open_window:
            return
        self._open_window = False
        if self._steps == 0:
            return
        row = self._close(pl_module)
        if row is not None:
            self.rows.append({"epoch": trainer.current_epoch, "step": self._total, "steps": self._steps, **row})

    def _stepped(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Call once per optimizer step, after the measurement of that step."""
        self._steps += 1
        self._total += 1
        if self.every_n_steps is not None and self._steps >= self.every_n_steps:
            self._finish(trainer, pl_module)
            self._start(pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._open_window:
            self._start(pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.every_n_steps is None:  # per-epoch windows; step windows run across epochs
            self._finish(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish(trainer, pl_module)

    # -- record and checkpoint
    def record_extras(self) -> dict[str, Any]:
        return {**self.settings(), "rows": list(self.rows)}

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "total": self._total}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])
        self._total = int(state_dict.get("total", 0))
