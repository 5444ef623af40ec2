"""Records -> tables, curves and LR-sensitivity plots, with the papers' published numbers beside
ours. Reads ``runs/<experiment>/<cell_id>/record.json`` files only; never trains.

Entry points: ``python -m results`` (see ``results/__main__.py``), ``results.load.load_records``,
``results.table.render_summary``, ``results.curves.plot_curves``.
"""
