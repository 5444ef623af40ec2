"""A minimal working workload to copy when adding a family (README, "Adding a workload").

Least-squares regression on a fixed random linear teacher: :class:`~tasks.template.data.RegressionData`
(a :class:`tasks.base.TaskData`), :class:`~tasks.template.models.Regressor` (a plain
``nn.Module``) and :class:`~tasks.template.module.RegressionTask` (a :class:`tasks.base.Task`
whose selection metric is the mean squared error, lower is better). Its configs are
``conf/module/template.yaml``, ``conf/model/template_mlp.yaml``, ``conf/dataset/template.yaml``
and ``conf/experiment/template.yaml``.
"""
