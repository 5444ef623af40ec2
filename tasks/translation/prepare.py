"""IWSLT'14 German-English, prepared as fairseq's ``examples/translation/prepare-iwslt14.sh``.

``python -m tasks.translation.prepare <de-en.tgz> <out>`` runs, in Python with the
maintained packages, what that script runs with Moses' perl scripts and subword-nmt:

1. train: ``train.tags.de-en.{de,en}`` without the lines holding ``<url>``, ``<talkid>``,
   ``<keywords>``, with the ``<title>``/``<description>`` tags (not their text) removed;
   Moses tokenisation (``sacremoses``, escaping on, as ``tokenizer.perl -l <lang>``);
   ``clean-corpus-n.perl -ratio 1.5 ... 1 175``; lower-casing (``lowercase.perl``);
2. dev/test: the ``<seg id>`` lines of ``IWSLT14.TED*.<lang>.xml``, ``’`` -> ``'``, tokenised
   and lower-cased the same way;
3. valid = every 23rd cleaned training pair (lines 23, 46, ...), train = the rest;
   test = dev2010 + TEDX.dev2012 + tst2010 + tst2011 + tst2012, in that order (the script's
   ``cat``; dev2012 is part of it);
4. joint BPE, 10,000 merges learned on train.de + train.en (``subword-nmt``, min frequency 2,
   ``@@`` separator), applied to every split;
5. the joined dictionary (``fairseq-preprocess --joined-dictionary``, see :mod:`.vocab`) and
   each split as token ids (``<split>.pt``: ``{"src": {tokens, offsets}, "tgt": ...}``, every
   sentence ending in ``</s>``).

The archive may be fairseq's ``de-en.tgz`` (``de-en/...`` inside) or WIT3's ``2014-01.tgz``
that holds it as ``2014-01/texts/de/en/de-en.tgz``. ``<out>/manifest.json`` records the
archive's size and SHA-256 and the settings; a second run with the same archive reuses the
outputs. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import torch

from tasks.translation.vocab import Dictionary, pack

SRC, TGT = "de", "en"
PAIR = f"{SRC}-{TGT}"
TEST_SETS = ("IWSLT14.TED.dev2010", "IWSLT14.TEDX.dev2012", "IWSLT14.TED.tst2010",
             "IWSLT14.TED.tst2011", "IWSLT14.TED.tst2012")
SPLITS = ("train", "valid", "test")
SETTINGS = {"ratio": 1.5, "min_len": 1, "max_len": 175, "valid_every": 23, "bpe_merges": 10000,
            "bpe_min_frequency": 2, "lowercase": True, "version": 1}
OUTPUTS = ("dict.txt", "code", *(f"{s}.pt" for s in SPLITS))
SOURCE_HINT = ("the IWSLT'14 de-en archive (fairseq's de-en.tgz or WIT3's 2014-01.tgz) is user-supplied; "
               "nothing is downloaded")


class PrepareError(ValueError):
    """Bad input; the message is one line naming the file."""


# --- reading the archive ------------------------------------------------------------------------
def required_files() -> list[str]:
    files = [f"train.tags.{PAIR}.{lang}" for lang in (SRC, TGT)]
    files += [f"{name}.{PAIR}.{lang}.xml" for name in TEST_SETS for lang in (SRC, TGT)]
    return files


def read_archive(path: str | Path) -> dict[str, str]:
    """The text of every file the pipeline needs, by base name."""
    path = Path(path)
    if not path.is_file():
        raise PrepareError(f"{path}: archive not found ({SOURCE_HINT})")
    try:
        with tarfile.open(path, "r:*") as tar:
            return _read_members(tar, str(path))
    except tarfile.TarError as exc:
        raise PrepareError(f"{path}: not a readable tar archive ({exc})") from None


def _read_members(tar: tarfile.TarFile, label: str) -> dict[str, str]:
    members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
    if f"train.tags.{PAIR}.{SRC}" not in members and f"{PAIR}.tgz" in members:
        inner = tar.extractfile(members[f"{PAIR}.tgz"])
        try:
            with tarfile.open(fileobj=io.BytesIO(inner.read()), mode="r:*") as nested:
                return _read_members(nested, f"{label}:{members[f'{PAIR}.tgz'].name}")
        except tarfile.TarError as exc:
            raise PrepareError(f"{label}:{members[f'{PAIR}.tgz'].name}: not a readable tar archive ({exc})") from None
    texts = {}
    for name in required_files():
        if name not in members:
            raise PrepareError(f"{label}: {PAIR}/{name} missing from the archive ({SOURCE_HINT})")
        try:
            texts[name] = tar.extractfile(members[name]).read().decode("utf-8")
        except UnicodeDecodeError:
            raise PrepareError(f"{label}: {members[name].name} is not UTF-8 text") from None
    return texts


# --- the script's text filters ------------------------------------------------------------------
_DROP_TAGS = ("<url>", "<talkid>", "<keywords>")
_STRIP_TAGS = re.compile(r"</?(?:title|description)>")
_SEG_OPEN = re.compile(r'<seg id="[0-9]*">\s*')
_SEG_CLOSE = re.compile(r"\s*</seg>\s*")


def train_text(raw: str) -> list[str]:
    """``grep -v '<url>|<talkid>|<keywords>'`` then drop the title/description tags."""
    return [_STRIP_TAGS.sub("", line) for line in raw.splitlines() if not any(t in line for t in _DROP_TAGS)]


def xml_segments(raw: str) -> list[str]:
    """The ``<seg id="N">`` lines with the tags removed and ``’`` turned into ``'``."""
    out = []
    for line in raw.splitlines():
        if "<seg id" in line:
            out.append(_SEG_CLOSE.sub("", _SEG_OPEN.sub("", line)).replace("\u2019", "'"))
    return out


def tokenize(lines: Sequence[str], lang: str) -> list[str]:
    """``tokenizer.perl -l <lang>`` (escaping on, no aggressive hyphen splitting)."""
    from sacremoses import MosesTokenizer

    tok = MosesTokenizer(lang=lang)
    return [tok.tokenize(line, return_str=True, escape=True) if line.strip() else "" for line in lines]


def lowercase(lines: Sequence[str]) -> list[str]:
    return [line.lower() for line in lines]


def _clean_line(line: str, factored: bool) -> str:
    if not factored:
        line = line.replace("|", "")
    return re.sub(r"\s+", " ", line).strip(" ")


def clean_corpus(src: Sequence[str], tgt: Sequence[str], ratio: float = 1.5, min_len: int = 1,
                 max_len: int = 175, max_word_length: int = 1000) -> tuple[list[str], list[str]]:
    """``clean-corpus-n.perl -ratio <ratio> corpus de en out <min_len> <max_len>``."""
    if len(src) != len(tgt):
        raise PrepareError(f"train.tags.{PAIR}.{SRC} has {len(src)} lines after filtering but "
                           f".{TGT} has {len(tgt)}: the two sides must be line-aligned")
    factored = bool(src) and ("|" in src[0] or "|" in tgt[0])
    long_word = re.compile(r"[^\s|]{%d}" % (max_word_length + 1))
    kept_src, kept_tgt = [], []
    for f, e in zip(src, tgt):
        f, e = _clean_line(f, factored), _clean_line(e, factored)
        if not f or not e:
            continue
        fc, ec = len(f.split(" ")), len(e.split(" "))
        if ec > max_len or fc > max_len or ec < min_len or fc < min_len:
            continue
        if ec / fc > ratio or fc / ec > ratio:
            continue
        if long_word.search(e) or long_word.search(f):
            continue
        kept_src.append(f)
        kept_tgt.append(e)
    return kept_src, kept_tgt


def split_valid(lines: Sequence[str], every: int = 23) -> tuple[list[str], list[str]]:
    """(train, valid): awk's ``NR % 23 == 0`` lines go to valid."""
    train = [line for i, line in enumerate(lines, 1) if i % every]
    valid = [line for i, line in enumerate(lines, 1) if i % every == 0]
    return train, valid


# --- BPE ----------------------------------------------------------------------------------------
def learn_bpe(lines: Sequence[str], merges: int, min_frequency: int = 2) -> str:
    """subword-nmt ``learn_bpe.py -s <merges>`` on ``lines``; returns the codes file text."""
    from subword_nmt.learn_bpe import learn_bpe as _learn

    out = io.StringIO()
    _learn(io.StringIO("".join(line + "\n" for line in lines)), out, merges, min_frequency=min_frequency)
    return out.getvalue()


def apply_bpe(codes: str, lines: Sequence[str]) -> list[str]:
    """subword-nmt ``apply_bpe.py -c <codes>`` (``@@`` separator)."""
    from subword_nmt.apply_bpe import BPE

    bpe = BPE(io.StringIO(codes))
    return [bpe.segment(line) if line else "" for line in lines]


# --- the pipeline -------------------------------------------------------------------------------
def tokenized_splits(texts: dict[str, str], settings: dict = SETTINGS) -> dict[str, dict[str, list[str]]]:
    """``{split: {lang: lines}}`` after tokenisation, cleaning, lower-casing and the split (pre-BPE)."""
    train = {lang: tokenize(train_text(texts[f"train.tags.{PAIR}.{lang}"]), lang) for lang in (SRC, TGT)}
    src, tgt = clean_corpus(train[SRC], train[TGT], settings["ratio"], settings["min_len"], settings["max_len"])
    out: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
    for lang, lines in ((SRC, src), (TGT, tgt)):
        lines = lowercase(lines)
        out["train"][lang], out["valid"][lang] = split_valid(lines, settings["valid_every"])
        test: list[str] = []
        for name in TEST_SETS:
            test += lowercase(tokenize(xml_segments(texts[f"{name}.{PAIR}.{lang}.xml"]), lang))
        out["test"][lang] = test
    for split in SPLITS:
        if len(out[split][SRC]) != len(out[split][TGT]):
            raise PrepareError(f"{split}: {len(out[split][SRC])} {SRC} vs {len(out[split][TGT])} {TGT} "
                               "segments; the dev/test XML files of the two languages must be aligned")
    if not out["train"][SRC] or not out["valid"][SRC]:
        raise PrepareError(f"train.tags.{PAIR}.*: too few sentence pairs survive cleaning "
                           f"({len(src)}); need at least {settings['valid_every']}")
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest(archive: Path) -> dict:
    return {"archive_size": archive.stat().st_size, "archive_sha256": _sha256(archive), "settings": SETTINGS}


def is_prepared(out: str | Path) -> bool:
    out = Path(out)
    return (out / "manifest.json").is_file() and all((out / name).is_file() for name in OUTPUTS)


def prepare(archive: str | Path, out: str | Path, settings: dict = SETTINGS, log=print) -> dict:
    """Run the pipeline (or reuse ``out`` when it already holds this archive's outputs); the manifest."""
    archive, out = Path(archive), Path(out)
    if not archive.is_file():
        raise PrepareError(f"{archive}: archive not found ({SOURCE_HINT})")
    manifest = _manifest(archive)
    manifest["settings"] = settings
    if is_prepared(out):
        try:
            old = json.loads((out / "manifest.json").read_text())
        except json.JSONDecodeError:
            old = None
        if old and all(old.get(k) == v for k, v in manifest.items()):
            log(f"{out}: already prepared from {archive.name}; reusing it")
            return old
    texts = read_archive(archive)
    log(f"tokenising {archive.name} (sacremoses) ...")
    splits = tokenized_splits(texts, settings)
    log(f"learning {settings['bpe_merges']} joint BPE merges (subword-nmt) ...")
    codes = learn_bpe(splits["train"][SRC] + splits["train"][TGT], settings["bpe_merges"],
                      settings["bpe_min_frequency"])
    bpe = {split: {lang: apply_bpe(codes, lines) for lang, lines in by_lang.items()} for split, by_lang in splits.items()}
    dictionary = Dictionary.build(bpe["train"][SRC] + bpe["train"][TGT])
    out.mkdir(parents=True, exist_ok=True)
    (out / "code").write_text(codes, encoding="utf-8")
    dictionary.save(out / "dict.txt")
    counts = {}
    for split in SPLITS:
        for lang in (SRC, TGT):
            (out / f"{split}.{lang}").write_text("".join(line + "\n" for line in bpe[split][lang]), encoding="utf-8")
        data = {side: pack([dictionary.encode(line) for line in bpe[split][lang]])
                for side, lang in (("src", SRC), ("tgt", TGT))}
        tmp = out / f".{split}.pt.tmp"
        torch.save(data, tmp)
        tmp.replace(out / f"{split}.pt")
        counts[split] = len(bpe[split][SRC])
    manifest.update(pairs=counts, vocab=len(dictionary))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"{out}: train {counts['train']}, valid {counts['valid']}, test {counts['test']} pairs; "
        f"joined dictionary {len(dictionary)} types")
    return manifest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print("usage: python -m tasks.translation.prepare <de-en.tgz> <out-dir>", file=sys.stderr)
        return 2
    try:
        prepare(argv[0], argv[1])
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
