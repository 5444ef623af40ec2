"""IWSLT'14 De->En translation (AdaMomentum Table 6): data preparation, the transformer,
beam search, BLEU, checkpoint averaging and the task module. See README, "Translation"."""
