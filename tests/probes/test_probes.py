"""Probes on a bare Lightning Trainer with a linear loss, so every step is known by hand:
loss = <c_t, w> + c'_t b with plain SGD (lr 0.1) moves each coordinate by -0.1 c_t."""

from __future__ import annotations


import pytest
import pytorch_lightning as pl
import torch

from bench.callbacks import History
from bench.probes import PROBES, GradNormProbe, OscillationProbe, build_probes

# per step: the 3 coefficients of w and the 1 of b
C = torch.tensor([[1.0, 1.0, 1.0, 1.0],
                  [-1.0, 1.0, -1.0, 1.0],
                  [1.0, 1.0, 1.0, -1.0],
                  [1.0, 1.0, -1.0, 1.0]])


class Linear(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([0.5, -0.2, 0.3]))
        self.b = torch.nn.Parameter(torch.tensor([2.0]))
        self.frozen = torch.nn.Parameter(torch.ones(2), requires_grad=False)

    def training_step(self, batch, batch_idx):
        (c,) = batch
        c = c[0]
        return (c[:3] * self.w).sum() + c[3] * self.b.sum() * 2.0  # b's gradient is 2 c_t

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(C), batch_size=1, shuffle=False)


def _fit(callbacks, epochs: int = 2) -> Linear:
    pl.seed_everything(0, verbose=False)
    model = Linear()
    checkpointing = any(isinstance(c, History) for c in callbacks)  # History is a Checkpoint callback
    trainer = pl.Trainer(max_epochs=epochs, callbacks=callbacks, logger=False, enable_checkpointing=checkpointing,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
    trainer.fit(model)
    return model


def test_oscillation_q_is_path_over_displacement():
    probe = OscillationProbe(max_coords=None)
    _fit([probe])
    # w[0]: steps 1,-1,1,1 -> l = 0.4, d = 0.2, q = 2; w[1]: 1,1,1,1 -> q = 1;
    # w[2]: 1,-1,1,-1 -> d = 0 (left out); b: 2 x (1,1,-1,1) -> l = 0.8, d = 0.4, q = 2
    assert len(probe.rows) == 2  # one window per epoch
    for epoch, row in enumerate(probe.rows):
        assert row["epoch"] == epoch and row["steps"] == 4 and row["step"] == 4 * (epoch + 1)
        assert row["per_layer"]["w"] == pytest.approx(1.5)
        assert row["per_layer"]["b"] == pytest.approx(2.0)
        assert row["q"] == pytest.approx(5 / 3)  # mean over the three coordinates with d > 0
        assert row["undefined"] == 1
        assert "frozen" not in row["per_layer"]


def test_oscillation_sampled_coordinates_are_a_fixed_subset():
    probe = OscillationProbe(max_coords=1, seed=3)
    _fit([probe], epochs=1)
    index = probe._tracked["w"]["index"]
    assert index is not None and index.numel() == 1
    q_by_coord = {0: 2.0, 1: 1.0}
    picked = int(index[0])
    if picked in q_by_coord:
        assert probe.rows[0]["per_layer"]["w"] == pytest.approx(q_by_coord[picked])
    else:  # coordinate 2 does not move overall: no q for w in this window
        assert "w" not in probe.rows[0]["per_layer"]
    assert probe._tracked["b"]["index"] is None  # b has 1 coordinate: tracked in full


def test_grad_norm_rows_are_the_window_means_of_the_hand_norms():
    probe = GradNormProbe(every_n_steps=2)
    _fit([probe], epochs=1)
    assert [r["step"] for r in probe.rows] == [2, 4]
    for row, steps in zip(probe.rows, (C[:2], C[2:])):
        gw, gb = steps[:, :3], 2 * steps[:, 3:]
        w_l1, w_l2 = gw.abs().sum(1), gw.norm(dim=1)
        b_l1, b_l2 = gb.abs().sum(1), gb.norm(dim=1)
        assert row["per_tensor"]["w"]["l1"] == pytest.approx(float(w_l1.mean()))
        assert row["per_tensor"]["w"]["l2"] == pytest.approx(float(w_l2.mean()))
        assert row["per_tensor"]["w"]["adal"] == pytest.approx(float((w_l1 * w_l2).mean()))  # ||(||g||_1 g)||_2
        assert row["per_tensor"]["b"]["l2"] == pytest.approx(2.0)
        assert row["global_l2"] == pytest.approx(float(torch.sqrt(w_l2**2 + b_l2**2).mean()))
        assert row["mean_l1"] == pytest.approx(float((w_l1.mean() + b_l1.mean()) / 2))
        assert set(row["per_tensor"]) == {"w", "b"}


def test_probes_never_change_the_update():
    plain = _fit([])
    probed = _fit([OscillationProbe(max_coords=None), GradNormProbe(every_n_steps=3)])
    assert torch.equal(plain.w, probed.w) and torch.equal(plain.b, probed.b)
    expected = torch.tensor([0.5, -0.2, 0.3]) - 0.1 * 2 * C[:, :3].sum(0)
    assert torch.allclose(probed.w.detach(), expected)


def test_history_puts_probe_rows_into_the_record_extras():
    history = History()
    _fit([OscillationProbe(max_coords=None), history], epochs=2)
    probes = history.extras["probes"]
    assert probes["oscillation"]["max_coords"] is None
    assert [r["epoch"] for r in probes["oscillation"]["rows"]] == [0, 1]
    assert len(history.entries) == 2


def test_probe_rows_survive_a_checkpoint_round_trip():
    probe = GradNormProbe()
    _fit([probe], epochs=1)
    restored = GradNormProbe()
    restored.load_state_dict(probe.state_dict())
    assert restored.rows == probe.rows and len(restored.rows) == 1


def test_build_probes_registry_and_bad_input():
    assert set(PROBES) == {"oscillation", "grad_norm"}
    built = build_probes(["grad_norm", {"name": "oscillation", "every_n_steps": 50, "max_coords": 10}])
    assert [type(p) for p in built] == [GradNormProbe, OscillationProbe]
    assert built[1].every_n_steps == 50 and built[1].max_coords == 10
    assert build_probes(None) == []
    with pytest.raises(ValueError, match=r"unknown probe 'curvature'; allowed: grad_norm, oscillation"):
        build_probes(["curvature"])
    with pytest.raises(ValueError, match=r"probes.oscillation.max_coords"):
        build_probes([{"name": "oscillation", "max_coords": 0}])
    with pytest.raises(ValueError, match=r"probes.grad_norm.every_n_steps"):
        build_probes([{"name": "grad_norm", "every_n_steps": 0}])
    with pytest.raises(ValueError, match=r"probes.grad_norm: .*unexpected keyword"):
        build_probes([{"name": "grad_norm", "window": 3}])
    with pytest.raises(ValueError, match="listed twice"):
        build_probes(["grad_norm", "grad_norm"])


def test_runner_records_probe_rows_and_the_report_draws_them(tmp_path):
    """Through the real CLI: a digits cell with both probes, then `results report`."""
    from results.__main__ import main as results_main
    from tests.conftest import records, run_bench

    runs, out = tmp_path / "runs", tmp_path / "report"
    assert run_bench("experiment=quickstart", "sweep.optimizer=[sgd]", "+lr_grids.sgd=[0.1]", "epochs=2",
                     "probes=[oscillation,grad_norm]", f"paths.runs={runs}") == 0
    (rec,) = records(runs, "quickstart")
    probes = rec["extras"]["probes"]
    assert [r["epoch"] for r in probes["oscillation"]["rows"]] == [0, 1]
    assert all(r["q"] >= 1.0 for r in probes["oscillation"]["rows"])  # path length >= displacement
    assert set(probes["grad_norm"]["rows"][0]["per_tensor"]) == {n for n in probes["oscillation"]["rows"][0]["per_layer"]}
    assert results_main(["report", "--runs", str(runs), "--out", str(out)]) == 0
    pngs = {p.name for p in (out / "quickstart").glob("*.png")}
    assert {"oscillation_mlp_digits.png", "grad_norm_mlp_digits.png", "tuning.png", "profile.png"} <= pngs
