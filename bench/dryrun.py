"""``python -m bench ... --dry-run``: what a sweep would launch, and what it would cost.

Prints one line per cell (state, epochs still to train, cost, cell directory, overrides),
then the count, how many are already finished, and a GPU-hour estimate from the recipe's
epochs and the per-epoch cost table ``conf/costs.yaml``. With ``hydra/launcher=slurm`` it
also prints the job-array script submitit would submit. Nothing is launched or written.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, TextIO

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from bench.plan import CONF_DIR, Planned
from bench.record import FINISHED, RecordError, read_record
from bench.sweep import override_key

COSTS_FILE = CONF_DIR / "costs.yaml"
SLURM_LAUNCHER = "hydra/launcher=slurm"


@dataclass
class Costs:
    """GPU-seconds per epoch by ``<model>/<dataset>``, else by dataset, else a default."""

    default_s: float
    datasets: dict[str, float] = field(default_factory=dict)
    pairs: dict[str, float] = field(default_factory=dict)
    reference: str = ""

    def per_epoch(self, model: str, dataset: str) -> tuple[float, str]:
        """(seconds, where the number came from: ``pair`` | ``dataset`` | ``default``)."""
        if f"{model}/{dataset}" in self.pairs:
            return float(self.pairs[f"{model}/{dataset}"]), "pair"
        if dataset in self.datasets:
            return float(self.datasets[dataset]), "dataset"
        return float(self.default_s), "default"


def load_costs(path: Path = COSTS_FILE) -> Costs:
    data = yaml.safe_load(Path(path).read_text()) or {}
    return Costs(default_s=float(data.get("default_s", 60)), datasets=dict(data.get("datasets") or {}),
                 pairs=dict(data.get("pairs") or {}), reference=str(data.get("reference", "")))


@dataclass
class CellCost:
    overrides: list[str]
    run_dir: Path
    state: str  # new | ok | diverged | running | failed
    model: str
    dataset: str
    epochs: int
    epochs_done: int
    per_epoch_s: float
    source: str

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def gpu_hours(self) -> float:
        return self.epochs * self.per_epoch_s / 3600

    @property
    def remaining_gpu_hours(self) -> float:
        return 0.0 if self.finished else max(self.epochs - self.epochs_done, 0) * self.per_epoch_s / 3600


@contextmanager
def _composer() -> Iterator[Any]:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            yield compose
    finally:
        GlobalHydra.instance().clear()


def _state(run_dir: Path) -> tuple[str, int]:
    try:
        record = read_record(run_dir)
    except (OSError, RecordError):  # missing, or an unusable runs path (warned above)
        return "new", 0
    return record["status"], len(record.get("history") or [])


def cell_costs(planned: Planned, costs: Costs) -> list[CellCost]:
    out = []
    for overrides, run_dir, cfg in zip(planned.cells, planned.run_dirs, planned.configs):
        model, dataset, epochs = cfg.model.name, cfg.dataset.name, int(cfg.epochs)
        state, done = _state(run_dir)
        seconds, source = costs.per_epoch(model, dataset)
        out.append(CellCost(overrides, run_dir, state, model, dataset, epochs, done, seconds, source))
    return out


def report(planned: Planned, argv: list[str], out: TextIO | None = None) -> int:
    """Print the dry run of ``planned`` (the cells ``argv`` describes); return exit code 0."""
    out = out or sys.stdout
    costs = load_costs()
    cells = cell_costs(planned, costs)
    for cell in cells:
        todo = "done" if cell.finished else f"{cell.epochs - cell.epochs_done:>4d} ep"
        print(f"{cell.state:<8} {todo:>7}  {cell.remaining_gpu_hours:8.2f} GPU-h  {cell.run_dir}  "
              f"{' '.join(cell.overrides)}", file=out)
    finished = sum(c.finished for c in cells)
    guessed = sorted({f"{c.model}/{c.dataset}" for c in cells if c.source == "default"})
    print(f"bench: dry run: {len(cells)} cell(s), {finished} already finished, {len(cells) - finished} to run",
          file=out)
    print(f"bench: estimate: {sum(c.remaining_gpu_hours for c in cells):.2f} GPU-hours to run "
          f"({sum(c.gpu_hours for c in cells):.2f} for the whole sweep), from the epochs of each cell x "
          f"{COSTS_FILE.name} ({costs.reference})", file=out)
    if guessed:
        print(f"bench: no cost entry for {', '.join(guessed)}: {costs.default_s:g} s/epoch assumed; "
              f"add them to {COSTS_FILE}", file=out)
    if SLURM_LAUNCHER in argv:
        print(f"bench: sbatch script of the job array ({len(cells)} task(s); finished cells skip "
              f"themselves in seconds):", file=out)
        print(render_sbatch(argv, cells[0].overrides, n_tasks=len(cells)), file=out)
    print("bench: nothing launched (--dry-run)", file=out)
    return 0


# --- SLURM -------------------------------------------------------------------------------
def launcher_params(argv: list[str], cell: list[str]) -> dict[str, Any]:
    """``hydra.launcher`` resolved for ``cell``, as the submitit launcher receives it."""
    hydra_overrides = [a for a in argv if override_key(a).startswith("hydra")]
    with _composer() as compose_cell:
        cfg: DictConfig = compose_cell(config_name="config", overrides=[*cell, *hydra_overrides],
                                       return_hydra_config=True)
    OmegaConf.set_readonly(cfg, False)
    cfg.hydra.job.name = "__main__" if cfg.hydra.job.get("name") in (None, "???") else cfg.hydra.job.name
    cfg.hydra.sweep.dir = str(Path(cfg.paths.runs) / cfg.experiment_name / "_hydra" / "<date>")
    return {k: v for k, v in OmegaConf.to_container(cfg.hydra.launcher, resolve=True).items() if k != "_target_"}


def render_sbatch(argv: list[str], cell: list[str], n_tasks: int) -> str:
    """The sbatch script hydra-submitit-launcher submits for ``n_tasks`` cells (one array).

    The parameters go through submitit exactly as ``BaseSubmititLauncher.launch`` passes them;
    only the check that ``srun`` exists on this machine is skipped.
    """
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from submitit import AutoExecutor
    from submitit.slurm.slurm import SlurmExecutor

    params = launcher_params(argv, cell)
    folder = params.pop("submitit_folder")
    init = {f"slurm_{k}": params.pop(k) for k in ("max_num_timeout",) if k in params}
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    params = {k if k in base else f"slurm_{k}": v for k, v in params.items()}
    original = SlurmExecutor.__dict__["affinity"]
    SlurmExecutor.affinity = classmethod(lambda cls: 2)  # no srun here; nothing is submitted
    try:
        executor = AutoExecutor(folder=folder, cluster="slurm", **init)
    finally:
        SlurmExecutor.affinity = original
    executor.update_parameters(**params)
    slurm = executor._executor
    if n_tasks > 1:
        slurm.parameters["map_count"] = n_tasks
    try:
        return slurm._make_submission_file_text(slurm._submitit_command_str, "dryrun")
    finally:
        slurm.parameters.pop("map_count", None)
