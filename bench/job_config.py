"""A config loader for sweep jobs that composes once per distinct config-group choice.

Hydra's launchers rebuild every job's config from scratch (``load_sweep_config``: the whole
defaults tree, ~80 ms), though the cells of a sweep mostly differ only in ``lr`` and ``seed``,
plain values the planner sets on an already composed config (``bench.sweep.VALUE_KEYS``).
:class:`ValueOverridesLoader` composes a job without those overrides through Hydra (cached
per launch and process, so a reused joblib worker composes each optimizer once), then applies
them with Hydra's own override code and records every override as Hydra would
(``hydra.overrides.task``, ``hydra.job.override_dirname``). The result equals Hydra's
composition (``tests/scale/test_job_config.py``); anything it cannot vouch for, such as
a sweep override or a key that names a config group, goes to Hydra unchanged.

It lives here, not beside the sweeper in ``hydra_plugins``: Hydra re-executes every plugin
module whenever a job restores its singletons (``Singleton.set_state`` in each joblib job),
which would empty a cache kept there before every job.
"""

from __future__ import annotations

import copy
import uuid
from collections import OrderedDict
from typing import Any, List

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from bench.sweep import VALUE_KEYS

CACHE_SIZE = 32  # composed configs kept per process (one per optimizer x model x dataset choice)
_COMPOSED: "OrderedDict[tuple, DictConfig]" = OrderedDict()


class ValueOverridesLoader(ConfigLoader):
    """``delegate`` (Hydra's loader) with a cheaper :meth:`load_sweep_config`; pickled to workers
    with its launch token, so cached compositions never outlive the launch that made them."""

    def __init__(self, delegate: ConfigLoader) -> None:
        self.delegate = delegate
        self.launch = uuid.uuid4().hex

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
        parsed = OverridesParser.create().parse_overrides(list(sweep_overrides))
        is_value = [self._is_value(o) for o in parsed]
        if not any(is_value):
            return self.delegate.load_sweep_config(master_config, sweep_overrides)
        values = [o for o, v in zip(parsed, is_value) if v]
        rest = [o.input_line for o, v in zip(parsed, is_value) if not v]
        key = (self.launch, master_config.hydra.job.config_name, tuple(master_config.hydra.overrides.hydra), tuple(rest))
        base = _COMPOSED.get(key)
        if base is None:
            base = _COMPOSED[key] = self.delegate.load_sweep_config(master_config, rest)
            while len(_COMPOSED) > CACHE_SIZE:
                _COMPOSED.popitem(last=False)
        else:
            _COMPOSED.move_to_end(key)
        cfg = copy.deepcopy(base)
        ConfigLoaderImpl._apply_overrides_to_config(values, cfg)  # what Hydra does after composing
        app = [o for o in parsed if not o.is_hydra_override()]
        cfg.hydra.overrides.task = [o.input_line for o in app]
        dirname = cfg.hydra.job.config.override_dirname
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=app, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep, exclude_keys=dirname.exclude_keys)
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg

    def _is_value(self, override: Any) -> bool:
        """A plain ``lr=``/``seed=`` value: no sweep, no package, not a config group."""
        if override.key_or_group not in VALUE_KEYS or override.is_sweep_override() or override.package is not None:
            return False
        repository = getattr(self.delegate, "repository", None)
        return repository is not None and not repository.group_exists(override.key_or_group)

    # --- the rest is Hydra's --------------------------------------------------------------
    def load_configuration(self, *args: Any, **kwargs: Any) -> DictConfig:
        return self.delegate.load_configuration(*args, **kwargs)

    def get_search_path(self) -> Any:
        return self.delegate.get_search_path()

    def get_sources(self) -> Any:
        return self.delegate.get_sources()

    def list_groups(self, parent_name: str) -> List[str]:
        return self.delegate.list_groups(parent_name)

    def get_group_options(self, *args: Any, **kwargs: Any) -> List[str]:
        return self.delegate.get_group_options(*args, **kwargs)

    def compute_defaults_list(self, *args: Any, **kwargs: Any) -> Any:
        return self.delegate.compute_defaults_list(*args, **kwargs)
