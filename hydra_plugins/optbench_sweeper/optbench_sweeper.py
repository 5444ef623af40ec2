"""Hydra sweeper that launches one job per optbench cell (see ``bench.sweep``).

It lives in the ``hydra_plugins`` namespace because Hydra only instantiates sweepers
from there. Jobs go to whatever ``hydra/launcher`` is configured (basic, joblib,
submitit local or SLURM), in batches of ``max_batch_size`` cells.
"""


import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import HydraContext, RunMode, TaskFunction
from omegaconf import DictConfig, OmegaConf

from bench import sweep as bench_sweep
from bench.job_config import ValueOverridesLoader

log = logging.getLogger(__name__)


@dataclass
class OptbenchSweeperConf:
    _target_: str = "hydra_plugins.optbench_sweeper.optbench_sweeper.OptbenchSweeper"
    max_batch_size: Optional[int] = None  # noqa: UP007 (OmegaConf needs Optional)
    plan: Optional[str] = None  # noqa: UP007 — the plan file `python -m bench` wrote (bench.plan.Planned.write)


ConfigStore.instance().store(group="hydra/sweeper", name="optbench", node=OptbenchSweeperConf, provider="optbench")


class OptbenchSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int] = None, plan: Optional[str] = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=None)
        self.plan = plan

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """The launcher's jobs compose through :class:`ValueOverridesLoader` (one composition
        per config-group choice, not per cell); the sweeper's own composing stays Hydra's."""
        jobs_context = HydraContext(config_loader=ValueOverridesLoader(hydra_context.config_loader),
                                    callbacks=hydra_context.callbacks)
        super().setup(hydra_context=jobs_context, task_function=task_function, config=config)
        self.hydra_context = hydra_context

    def _compose(self, overrides: list[str]) -> Any:
        assert self.hydra_context is not None and self.config is not None
        return self.hydra_context.config_loader.load_configuration(
            config_name=self.config.hydra.job.config_name, overrides=overrides, run_mode=RunMode.MULTIRUN
        )

    def cells(self, arguments: list[str]) -> list[list[str]]:
        """The cells of this sweep: read from the plan ``python -m bench`` wrote, or (Hydra
        used directly) expanded here."""
        if self.plan:
            return [entry["overrides"] for entry in json.loads(Path(self.plan).read_text())["cells"]]
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        jobs = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)[0]
        return bench_sweep.expand(jobs, self._compose)

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        cells = self.cells(list(arguments))
        log.info("optbench: %d cell(s) to run or skip", len(cells))
        self.overrides = list(self.split_overrides_to_chunks(cells, self.max_batch_size))
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        returns = []
        initial_job_idx = 0
        while not self.is_done():
            batch = self.get_job_batch()
            results = self.launcher.launch(batch, initial_job_idx=initial_job_idx)
            initial_job_idx += len(batch)
            returns.append(results)
        return returns
