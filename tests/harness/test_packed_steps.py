"""Packed training batches (``dataset.steps_per_call``): the same optimizer steps on the same
batches as one step per Lightning batch, so a cell's history is identical either way."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.cell import run_cell
from bench.perf.runner import compose_cell
from tasks.base import PackedSteps
from tasks.tensor_loader import TensorLoader
from tests.scale.helpers import strip_time


def test_packed_loader_yields_the_same_batches_in_packs() -> None:
    x, y = torch.randn(37, 3), torch.arange(37)
    plain = TensorLoader(x, y, batch_size=4, shuffle=True, seed=5)
    packed = TensorLoader(x, y, batch_size=4, shuffle=True, seed=5, steps_per_call=3)
    for loader in (plain, packed):
        loader.sampler.set_epoch(2)
    packs = list(packed)
    assert all(isinstance(p, PackedSteps) for p in packs)
    assert [len(p) for p in packs] == [3, 3, 3, 1] and len(packed) == 4 and len(plain) == 10
    flat = [batch for pack in packs for batch in pack]
    assert len(flat) == len(list(plain))
    for (px, py), (qx, qy) in zip(plain, flat, strict=True):
        assert torch.equal(px, qx) and torch.equal(py, qy)


def _returns_of(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list:
    """Wrap the method ``cls.name`` so that every call's return value is appended to the list returned."""
    returned: list = []
    method = getattr(cls, name)

    def spy(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        returned.append(method(self, *args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(cls, name, spy)
    return returned


def _cell(tmp_path: Path, k: int, *overrides: str) -> dict:
    cfg = compose_cell(["model=mlp", "dataset=digits", "optimizer=adam", "lr=0.003", "epochs=3", "seed=1",
                        f"dataset.steps_per_call={k}", f"paths.runs={tmp_path / str(k)}", *overrides])
    return run_cell(cfg)


@pytest.mark.parametrize("overrides", [
    ("schedule=cosine",),                                     # a per-epoch schedule, stepped by the task
    ("schedule=cosine", "schedule.interval=step", "schedule.T_max=51", "grad_clip=0.05"),  # per step, clipped
])
def test_packed_cell_trains_step_for_step_like_one_batch_per_step(tmp_path: Path, overrides: tuple[str, ...]) -> None:
    one, five, whole = (_cell(tmp_path, k, *overrides) for k in (1, 5, 32))  # 17 batches: packs of 5,5,5,2 and 17
    assert one["status"] == five["status"] == whole["status"] == "ok"
    assert [h["step"] for h in one["history"]] == [17, 34, 51]
    lrs = [h["lr"] for h in one["history"]]
    assert len(set(lrs)) == 3  # the schedule moved, so a missed or doubled step would show
    assert strip_time(five["history"]) == strip_time(one["history"])
    assert strip_time(whole["history"]) == strip_time(one["history"])


def test_divergence_inside_a_pack_names_the_same_step(tmp_path: Path) -> None:
    one, whole = (_cell(tmp_path, k, "optimizer=sgd", "lr=1e6") for k in (1, 32))
    assert one["status"] == whole["status"] == "diverged"
    assert one["error"] == whole["error"] and "step" in one["error"]


def test_step_budgets_count_single_steps(tmp_path: Path) -> None:
    """A step budget counts Lightning batches, so the runner turns packing off for it."""
    record = _cell(tmp_path, 32, "max_steps=10", "eval_every=5")
    assert record["status"] == "ok"
    assert [h["step"] for h in record["history"]] == [5, 10]


def test_gradient_accumulation_turns_packing_off(tmp_path: Path) -> None:
    accumulate = ("+trainer.accumulate_grad_batches=2",)
    one, whole = _cell(tmp_path, 1, *accumulate), _cell(tmp_path, 32, *accumulate)
    plain = _cell(tmp_path / "plain", 1)
    assert one["status"] == whole["status"] == "ok"
    assert strip_time(whole["history"]) == strip_time(one["history"])
    assert strip_time(one["history"]) != strip_time(plain["history"])  # accumulation did change the steps


def test_only_tasks_that_declare_it_get_packed_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.classification import ClassificationModule

    monkeypatch.setattr(ClassificationModule, "packs_steps", False)
    seen: list[type] = []
    step = ClassificationModule.training_step

    def spy(self, batch, batch_idx):
        seen.append(type(batch))
        return step(self, batch, batch_idx)

    monkeypatch.setattr(ClassificationModule, "training_step", spy)
    record = _cell(tmp_path, 32)
    assert record["status"] == "ok" and [h["step"] for h in record["history"]] == [17, 34, 51]
    assert len(seen) == 51 and PackedSteps not in seen


def test_packed_steps_go_through_lightning_when_a_hook_listens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Packed steps call backward and step directly only while no hook listens (Task.manual_step);
    a module that defines ``on_after_backward`` gets it at every step, and the numbers agree."""
    from tasks.base import Task
    from tasks.classification import ClassificationModule

    decided = _returns_of(monkeypatch, Task, "_hookless")
    direct = _cell(tmp_path / "direct", 32, "grad_clip=0.05")
    assert direct["status"] == "ok" and decided and all(decided)

    calls: list[int] = []
    monkeypatch.setattr(ClassificationModule, "on_after_backward", lambda self: calls.append(self.trainer.global_step),
                        raising=False)
    decided.clear()
    hooked = _cell(tmp_path / "hooked", 32, "grad_clip=0.05")
    assert hooked["status"] == "ok" and decided and not any(decided)
    assert calls == list(range(51))  # every step, before its optimizer step
    assert [h["step"] for h in hooked["history"]] == [17, 34, 51]
    assert strip_time(hooked["history"]) == strip_time(direct["history"])


def test_packed_epochs_evaluate_in_the_task_unless_a_callback_listens(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A packed epoch's task evaluates its splits itself (``Task.evaluate_packed_epoch``) while no
    callback listens to Lightning's evaluation hooks; one that does gets Lightning's loop, at
    every evaluation, and the history is the same either way (and the same as unpacked)."""
    import pytorch_lightning as pl

    from tasks.base import Task

    ran = _returns_of(monkeypatch, Task, "evaluate_packed_epoch")
    inline = _cell(tmp_path / "inline", 32, "epochs=4", "eval_every=2")
    assert inline["status"] == "ok" and ran == [False, True, False, True]  # Lightning's check_val_every_n_epoch
    assert [("val_acc" in h, "test_acc" in h) for h in inline["history"]] == [(False, False), (True, True)] * 2

    class Listener(pl.Callback):
        seen = 0

        def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            Listener.seen += 1

    Trainer = pl.Trainer

    class ListenedTrainer(Trainer):
        def __init__(self, *args, callbacks=(), **kwargs) -> None:
            super().__init__(*args, callbacks=[*callbacks, Listener()], **kwargs)

    monkeypatch.setattr(pl, "Trainer", ListenedTrainer)
    ran.clear()
    listened = _cell(tmp_path / "listened", 32, "epochs=4", "eval_every=2")
    assert listened["status"] == "ok" and ran == [False] * 4 and Listener.seen == 2
    assert strip_time(listened["history"]) == strip_time(inline["history"])
    monkeypatch.setattr(pl, "Trainer", Trainer)
    unpacked = _cell(tmp_path / "unpacked", 1, "epochs=4", "eval_every=2")
    assert strip_time(unpacked["history"]) == strip_time(inline["history"])


def test_a_task_evaluating_itself_skips_the_test_split_when_told(tmp_path: Path) -> None:
    packed, unpacked = (_cell(tmp_path, k, "eval_test_every_epoch=false") for k in (32, 1))
    assert packed["status"] == "ok" and all("val_acc" in h and "test_acc" not in h for h in packed["history"])
    assert strip_time(packed["history"]) == strip_time(unpacked["history"])


def test_a_task_evaluating_itself_restores_training_mode(tmp_path: Path) -> None:
    """BatchNorm trains on batch statistics again after an evaluation inside the packed epoch."""
    def cell(k: int) -> dict:
        return run_cell(compose_cell([
            "model=convnet", "model.width=4", "dataset=synthetic", "dataset.input_shape=[3,8,8]",
            "dataset.num_samples=200", "dataset.batch_size=16", "optimizer=sgd", "lr=0.05", "epochs=3", "seed=2",
            f"+dataset.steps_per_call={k}", f"paths.runs={tmp_path / str(k)}"]))

    packed, unpacked = cell(8), cell(1)
    assert packed["status"] == unpacked["status"] == "ok"
    assert strip_time(packed["history"]) == strip_time(unpacked["history"])


@pytest.mark.filterwarnings("ignore:You have overridden `on_after_batch_transfer`")
def test_a_task_evaluating_itself_calls_overridden_transfer_hooks(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """On CPU the batch transfer is skipped only while it is a no-op: a module's own transfer hook
    still sees every evaluation batch, with its loader index."""
    from tasks.classification import ClassificationModule

    seen: list[int] = []

    def hook(self, batch, dataloader_idx):  # noqa: ANN001
        seen.append(dataloader_idx)
        return batch

    monkeypatch.setattr(ClassificationModule, "on_after_batch_transfer", hook, raising=False)
    record = _cell(tmp_path, 32)  # 3 epochs; training packs 1 Lightning batch an epoch, val and test 1 each
    assert record["status"] == "ok"
    assert seen == [0, 0, 1] * 3  # training batch (Lightning's), then val and test (the task's)
