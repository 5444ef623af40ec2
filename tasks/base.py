"""The task contract in code: what the runner (``bench``) needs of every workload.

A workload family is a :class:`Task` (its ``LightningModule``) plus a :class:`TaskData`
(its ``LightningDataModule``), each named by a config (``conf/module/``, ``conf/dataset/``).
:func:`check_task` and :func:`check_data` hold them to the contract when a sweep is planned,
so a task that forgets something fails there with one line, not deep inside a cell.

What the runner passes in and expects back:

- ``Task(model=..., optimizer_factory=..., scheduler_factory=..., divergence_check_every=...,
  **module_config)``. ``optimizer_factory(params, role)`` builds the cell's optimizer for one
  of the task's ``roles`` (learning rate bound, per-role overrides of
  ``optimizer_overrides.<optimizer>.<role>`` applied); ``scheduler_factory(optimizer)``
  returns a Lightning ``lr_scheduler`` dict or ``None``.
- Per evaluation the task logs the keys it declares in ``logged_keys`` (which must include
  ``val_<metric>``; ``test_<metric>`` too when the runner adds the test split as a second
  validation loader). Under an epoch budget the record takes a row at each epoch end; under
  a step budget (``max_steps``: that many ``training_step`` calls) at each evaluation, so a
  task with a step budget logs its running training figures in its evaluation hooks.
- A non-finite loss raises :class:`tasks.Diverged` through :meth:`Task.check_finite`.
- A data object may pack several optimizer steps into one training batch
  (``TaskData.steps_per_call`` > 1: the batch is a :class:`PackedSteps`), which saves
  Lightning's per-batch hooks on workloads whose steps take well under a millisecond. The
  runner packs only for a task that declares ``packs_steps = True``, and never where
  per-batch hooks must see every step (probes, step budgets, smoke runs). Where, besides,
  nothing listens to Lightning's evaluation hooks (one process, no progress bar, profiler or
  foreign callback), the runner sets ``TaskData.evaluate_in_task``: the task then evaluates the
  splits itself at the end of its ``on_train_epoch_end`` (:meth:`Task.evaluate_packed_epoch`).
- ``record_extras()`` adds fields to the record; ``fit_check`` is the plan-time forward pass.
"""

from __future__ import annotations

import inspect
import math
import weakref
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import Tensor, nn

from tasks import Diverged
from tasks.metric import Metric

OptimizerFactory = Callable[..., torch.optim.Optimizer]  # (params, role="model") -> Optimizer
SchedulerFactory = Callable[[torch.optim.Optimizer], dict[str, Any] | None]
SPLITS = ("val", "test")


class PackedSteps(list):
    """A training batch that holds several consecutive batches, one optimizer step each
    (see ``TaskData.steps_per_call``)."""


class ContractError(TypeError):
    """A task or data class that breaks the contract; the message is one line."""


class Task(pl.LightningModule):
    """Base of every task's LightningModule.

    Subclasses must set ``metric`` (a :class:`tasks.metric.Metric`) and ``logged_keys``; a
    task with several optimizers sets ``roles`` and overrides ``configure_optimizers``
    (calling ``self.optimizer_factory(params, role)`` once per role). ``reported`` names the
    units of further logged metrics (``val_<name>``/``test_<name>``) that tables may print.
    """

    @classmethod
    def metrics(cls) -> dict[str, Metric]:
        """The selection metric and the ``reported`` ones, by name (stored in every record)."""
        return {m.name: m for m in (cls.metric, *cls.reported)}

    metric: ClassVar[Metric]
    logged_keys: ClassVar[tuple[str, ...]]
    roles: ClassVar[tuple[str, ...]] = ("model",)
    reported: ClassVar[tuple[Metric, ...]] = ()  # other metrics tables may print (top-5 accuracy)
    packs_steps: ClassVar[bool] = False  # training_step takes PackedSteps (TaskData.steps_per_call > 1)
    # some backward passes leave parameters without a gradient (a GAN's D step never reaches G, its
    # G step freezes D): under DDP the runner then has Lightning look for them at every backward
    ddp_unused_parameters: ClassVar[bool] = False

    def __init__(self, model: nn.Module, optimizer_factory: OptimizerFactory,
                 scheduler_factory: SchedulerFactory | None = None, divergence_check_every: int = 1) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer_factory
        self.scheduler_factory = scheduler_factory
        self.divergence_check_every = max(1, int(divergence_check_every))

    def configure_optimizers(self) -> Any:
        """One optimizer (role ``model``) over ``self.model.parameters()``, plus its schedule."""
        optimizer = self.optimizer_factory(self.model.parameters(), "model")
        scheduler = self.scheduler_factory(optimizer) if self.scheduler_factory else None
        return optimizer if scheduler is None else {"optimizer": optimizer, "lr_scheduler": scheduler}

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets ``_current_fx_name`` around every hook call (~50 times a training
        # step); ``nn.Module.__setattr__`` searches parameters, buffers and submodules each
        # time, ~5% of a step of a small model. It is always a plain string or None.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def log_epoch(self, values: dict[str, float]) -> None:
        """Publish evaluation-level metrics (Python floats, already reduced across ranks) in
        ``trainer.callback_metrics``, where the record and any callback read them.

        What ``self.log(..., on_epoch=True, sync_dist=False)`` ends with, without Lightning's
        result collection: ~1 ms a call, which a workload with sub-millisecond steps notices.
        """
        metrics = self.trainer.callback_metrics
        for key, value in values.items():
            metrics[key] = torch.tensor(float(value))

    def steps_done(self) -> int | None:
        """Training steps completed so far when they differ from ``training_step`` calls
        (packed batches); ``None``: count ``training_step`` calls."""
        return None

    # --- manual optimization ------------------------------------------------------------
    def manual_step(self, optimizer: Any, loss: Tensor) -> None:
        """One manual-optimization step: zero the gradients, backward, clip (the Trainer's
        ``gradient_clip_val``), step ``optimizer`` (what ``self.optimizers()`` returned).

        Where nothing listens to the per-step hooks (:meth:`_hookless`), backward and step go
        straight to torch and only the step counter Lightning keeps (``global_step``) is
        advanced: Lightning's ``manual_backward`` and ``LightningOptimizer.step`` dispatch
        three hooks to every callback, ~0.15 ms a step, a fifth of a digits MLP step.
        Otherwise, and always under AMP, a distributed strategy or a profiler, it is
        Lightning's own path. Both give the same numbers (``tests/harness/test_packed_steps.py``).
        """
        clip = self.trainer.gradient_clip_val
        if not self._hookless():
            optimizer.zero_grad()
            self.manual_backward(loss)
            if clip:
                self.clip_gradients(optimizer)
            optimizer.step()
            return
        raw = optimizer.optimizer
        raw.zero_grad()
        loss.backward()
        if clip:
            self.clip_gradients(optimizer)
        progress = self.trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
        progress.increment_ready()
        raw.step()
        progress.increment_completed()

    def _hookless(self) -> bool:
        """Whether nothing needs Lightning's per-step dispatch in this fit (decided once a fit):
        plain 32-bit precision on one device, the pass-through profiler, and no callback or
        module hook on backward or the optimizer step."""
        trainer = self.trainer
        cached = self.__dict__.get("_hookless_for")  # (weak reference to the trainer, answer)
        if cached is not None and cached[0]() is trainer:
            return cached[1]
        from pytorch_lightning.plugins.precision import Precision
        from pytorch_lightning.profilers import PassThroughProfiler
        from pytorch_lightning.strategies import SingleDeviceStrategy

        hooks = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
        ok = (type(trainer.strategy) is SingleDeviceStrategy
              and type(trainer.strategy.precision_plugin) is Precision
              and type(trainer.profiler) is PassThroughProfiler
              and not any(is_overridden(h, cb, pl.Callback) for cb in trainer.callbacks for h in hooks)
              and not any(is_overridden(h, self, pl.LightningModule) for h in (*hooks, "backward")))
        object.__setattr__(self, "_hookless_for", (weakref.ref(trainer), ok))
        return ok

    # --- evaluation of packed epochs ---------------------------------------------------
    def evaluate_packed_epoch(self) -> bool:
        """Run this epoch's evaluation here if the data object leaves it to the task (packed
        epochs, nothing listening to Lightning's evaluation hooks: ``TaskData.evaluated_by_task``)
        and the epoch is one Lightning would evaluate (``check_val_every_n_epoch``); True if it ran.

        What Lightning's validation loop does, without its per-loader and per-batch dispatch
        (~2 ms an evaluation, a fifth of a digits epoch): the module in eval mode under
        ``torch.inference_mode`` and the precision plugin's evaluation context, the module's
        ``on_validation_epoch_start``, ``validation_step(batch, batch_idx, dataloader_idx)``
        on every batch of :meth:`TaskData.eval_loaders` (moved by the strategy with the transfer
        hooks, except on CPU where no transfer hook is overridden and the move is a no-op),
        ``on_validation_epoch_end``, then each submodule's training mode restored. A task calls it at the end of ``on_train_epoch_end``, before the
        monitoring callbacks take the epoch's row and checkpoint; the metrics equal Lightning's
        loop's (``tests/harness/test_packed_steps.py``).
        """
        trainer = self.trainer
        data = trainer.datamodule
        every = trainer.check_val_every_n_epoch
        if data is None or not data.evaluated_by_task() or every is None or (trainer.current_epoch + 1) % every:
            return False
        modes = [(module, module.training) for module in self.modules()]
        move = trainer.strategy.batch_to_device if self._moves_batches() else _as_it_is
        self.eval()
        try:
            with torch.inference_mode(), trainer.precision_plugin.val_step_context():
                self.on_validation_epoch_start()
                for idx, loader in enumerate(data.eval_loaders()):
                    for batch_idx, batch in enumerate(loader):
                        self.validation_step(move(batch, dataloader_idx=idx), batch_idx, idx)
                self.on_validation_epoch_end()
        finally:
            for module, training in modes:
                module.training = training
        return True

    def _moves_batches(self) -> bool:
        """Whether a batch must go through the strategy's transfer (and its three hooks): not on
        CPU where neither the module nor the data object overrides a transfer hook (a no-op then)."""
        hooks = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
        data = self.trainer.datamodule
        return (self.device.type != "cpu" or any(is_overridden(h, self, pl.LightningModule) for h in hooks)
                or any(is_overridden(h, data, pl.LightningDataModule) for h in hooks))

    # --- divergence -----------------------------------------------------------------
    def any_rank(self, flag: bool) -> bool:
        """``flag`` on any data-parallel rank, so that every rank stops at the same step."""
        trainer = self._trainer
        if trainer is None or trainer.world_size <= 1:
            return bool(flag)
        return trainer.strategy.reduce_boolean_decision(bool(flag), all=False)

    def check_finite(self, value: Tensor | float, where: str, step: int | None = None) -> None:
        """Raise :class:`Diverged` when ``value`` is non-finite on any rank.

        With ``step`` given, checks only every ``divergence_check_every`` steps (each check
        is a host sync on a GPU); epoch-level checks pass no step and always run.
        """
        if step is not None and step % self.divergence_check_every:
            return
        if isinstance(value, Tensor):  # a 0-dim sum: one host read, not isfinite + all + bool (3 ops a step)
            finite = math.isfinite(value.item()) if value.numel() == 1 else bool(torch.isfinite(value).all())
        else:
            finite = math.isfinite(value)
        if self.any_rank(not finite):
            raise Diverged(f"{where} became non-finite at epoch {self.current_epoch}"
                           + (f", step {step}" if step is not None else ""))

    # --- record and plan-time hooks ---------------------------------------------------
    def record_extras(self) -> dict[str, Any] | None:
        """Extra record fields (e.g. a toy task's trajectory); ``None`` for none."""
        return None

    @classmethod
    def fit_check(cls, model: nn.Module, batch: Any) -> None:
        """Plan-time forward pass on the meta device: raise if ``model`` cannot take ``batch``.

        The default feeds the first element of a tuple/list batch (the inputs) to the model.
        """
        model.eval()(batch[0] if isinstance(batch, (tuple, list)) else batch)


def _as_it_is(batch: Any, dataloader_idx: int = 0) -> Any:
    return batch


class TaskData(pl.LightningDataModule):
    """Base of every task's data object; the runner passes it as ``Trainer.fit(datamodule=...)``.

    Lightning calls ``prepare_data`` once per node and ``setup`` on every rank; sharding
    across data-parallel ranks is the data object's business (:meth:`rank_and_world`).
    Subclasses implement :meth:`split_loader` and :meth:`example_batch`; the constructor
    must be cheap and touch no file (the planner builds one per distinct dataset config).
    """

    eval_test_every_epoch: bool = True  # set by the runner: validation loader 1 is the test split
    steps_per_call: int = 1  # optimizer steps one training batch packs (a PackedSteps when > 1)
    # set by the runner where nothing listens to Lightning's evaluation hooks: a packed epoch's
    # task evaluates the splits itself (Task.evaluate_packed_epoch), Lightning's loop gets none
    evaluate_in_task: bool = False

    def evaluated_by_task(self) -> bool:
        """Whether the task evaluates :meth:`eval_loaders` at its packed epochs' end, instead of
        Lightning's validation loop: the runner allowed it and packing is still on (a task may
        turn packing off in its ``setup``, and then Lightning's loop evaluates)."""
        return self.evaluate_in_task and self.steps_per_call > 1

    def eval_loaders(self) -> list[Iterable[Any]]:
        """The evaluation loaders in ``dataloader_idx`` order: validation, then test when the
        runner evaluates it every epoch."""
        return [self.split_loader(s) for s in (SPLITS if self.eval_test_every_epoch else SPLITS[:1])]

    def split_loader(self, split: str) -> Iterable[Any]:
        """The batches of ``split`` (``train``, ``val`` or ``test``) for this rank."""
        raise NotImplementedError

    def example_batch(self) -> Any:
        """A tiny batch with the real shapes and dtypes, built without reading files.

        Called under ``torch.device("meta")`` at plan time, so tensors created with factory
        functions cost nothing.
        """
        raise NotImplementedError

    def preflight(self) -> list[str]:
        """Cheap checks (file existence, headers) before launch: one line per problem."""
        return []

    def rank_and_world(self) -> tuple[int, int]:
        """``(global_rank, world_size)`` of the trainer this data object is attached to."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def train_dataloader(self) -> Iterable[Any]:
        return self.split_loader("train")

    def val_dataloader(self) -> Any:
        if self.evaluated_by_task():
            return []
        loaders = self.eval_loaders()
        return loaders if len(loaders) > 1 else loaders[0]

    def test_dataloader(self) -> Iterable[Any]:
        return self.split_loader("test")


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name) is not getattr(TaskData if issubclass(cls, TaskData) else Task, name)


def check_task(cls: Any) -> type[Task]:
    """Return ``cls`` if it is a :class:`Task` that declares the contract; else ``ContractError``."""
    label = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)}"
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ContractError(f"module {label} is not a tasks.base.Task subclass")
    metric = getattr(cls, "metric", None)
    if not isinstance(metric, Metric):
        raise ContractError(f"module {label} declares no selection metric (set metric = tasks.metric.Metric(...))")
    keys = getattr(cls, "logged_keys", None)
    if not (isinstance(keys, tuple) and keys and all(isinstance(k, str) for k in keys)):
        raise ContractError(f"module {label} declares no logged_keys (a tuple of the keys it logs per evaluation)")
    if metric.key not in keys:
        raise ContractError(f"module {label}: logged_keys must include {metric.key}, the selection metric")
    if not all(isinstance(m, Metric) for m in cls.reported):
        raise ContractError(f"module {label}: reported must be a tuple of tasks.metric.Metric")
    roles = cls.roles
    if not (isinstance(roles, tuple) and roles and all(isinstance(r, str) and r.isidentifier() for r in roles)
            and len(set(roles)) == len(roles)):
        raise ContractError(f"module {label}: roles must be a tuple of distinct identifiers, got {roles!r}")
    if len(roles) > 1 and not _overrides(cls, "configure_optimizers"):
        raise ContractError(f"module {label} has optimizer roles {', '.join(roles)} but does not override configure_optimizers")
    return cls


def check_data(cls: Any) -> type[TaskData]:
    """Return ``cls`` if it is a :class:`TaskData` that implements the contract; else ``ContractError``."""
    label = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)}"
    if not (isinstance(cls, type) and issubclass(cls, TaskData)):
        raise ContractError(f"dataset {label} is not a tasks.base.TaskData subclass")
    for name in ("split_loader", "example_batch"):
        if not _overrides(cls, name):
            raise ContractError(f"dataset {label} does not implement {name}()")
    return cls


def accepted_kwargs(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``kwargs`` that ``cls.__init__`` takes by name."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}
