"""Tokenised BLEU the way the reference recipe reports it, computed by sacreBLEU.

The AdaBelief/AdaMomentum scripts score with ``fairseq-generate --remove-bpe``: hypotheses and
references are the Moses-tokenised, lower-cased text with the ``@@ `` joins undone, scored by
fairseq's corpus BLEU (multi-bleu.perl's: 4-grams, brevity penalty, no smoothing, no further
tokenisation, case as given). The same number comes from sacreBLEU with
``BLEU(tokenize="none", smooth_method="none", lowercase=False, force=True)``; its signature
(``nrefs:1|case:mixed|eff:no|tok:none|smooth:none|version:...``) goes into every record.
Reference tokens missing from the dictionary are ``<<unk>>`` there, as fairseq prints them.
"""

from __future__ import annotations

from collections.abc import Sequence

SACREBLEU_SETTINGS = {"tokenize": "none", "smooth_method": "none", "lowercase": False, "force": True}


def remove_bpe(line: str, separator: str = "@@") -> str:
    """fairseq's ``--remove-bpe`` (``@@ `` removed, and a trailing ``@@``)."""
    return (line + " ").replace(f"{separator} ", "").rstrip()


def _metric():
    from sacrebleu.metrics import BLEU

    return BLEU(**SACREBLEU_SETTINGS)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100) of already BPE-free, tokenised lines."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses vs {len(references)} references")
    return float(_metric().corpus_score(list(hypotheses), [list(references)]).score)


def signature() -> str:
    """sacreBLEU's signature of these settings (it needs one scored corpus to know ``nrefs``)."""
    metric = _metric()
    metric.corpus_score(["a"], [["a"]])
    return str(metric.get_signature())
