"""Word-level language modelling on Penn Treebank (Padam T3, AdaMomentum T5, AdaRem T3).

``corpus`` (PTB files -> token ids, cached), ``streams`` (parallel columns, BPTT windows,
DDP slices), ``data`` (the Lightning data module), ``models`` (AWD-LSTM, a plain LSTM),
``module`` (the LightningModule), ``perf`` (runner vs plain-loop tokens/s).
"""
