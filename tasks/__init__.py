"""Workloads: data modules, model builders and LightningModules the runner trains."""
