"""Workloads: data modules, model builders and LightningModules the runner trains.

The runner contract (what ``bench.cell.run_cell`` needs from a task, and all it needs):

- **module** (``conf/module``): a ``LightningModule`` built as
  ``Module(model=..., optimizer_factory=..., scheduler_factory=..., divergence_check_every=...)``;
  :class:`tasks.module.TaskModule` takes exactly these and configures one optimizer.
  ``optimizer_factory(params)`` returns the cell's optimizer (lr bound) and may be called once
  per optimizer (a GAN builds two); ``scheduler_factory(optimizer)`` returns a Lightning
  ``lr_scheduler`` dict. Automatic or manual optimization is the module's choice; with
  automatic optimization the cell's ``grad_clip`` is applied by the Trainer.
- Class attributes ``metric`` and ``metric_mode`` (``"max"``/``"min"``) name the selection
  metric; the module logs epoch-level ``train_loss``, ``val_<metric>`` and, when the runner
  passes a second validation loader (``eval_test_every_epoch``), ``test_<metric>``.
- It raises :class:`Diverged` when its loss becomes non-finite, and may define
  ``record_extras() -> dict`` for extra record fields.
- **data** (``conf/dataset``): an object with ``prepare_data()``, ``setup(stage)`` and
  ``{train,val,test}_dataloader()`` returning any iterables of batches (a ``DataLoader``, a
  :class:`tasks.tensor_loader.TensorLoader`, a list); ``batch_size`` if it has one.

State a task carries across batches (an LSTM's hidden state) lives in the module; the
runner only checkpoints what Lightning does (model, optimizers, schedulers, loops) plus the
record history, so such state must be reset at epoch start or saved in ``on_save_checkpoint``.
"""


class Diverged(RuntimeError):
    """The training loss became NaN or infinite: the cell ends with status ``diverged``."""
