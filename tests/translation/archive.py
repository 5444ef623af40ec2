"""Write a tiny IWSLT'14 de-en archive in the real layout.

WIT3's ``2014-01.tgz`` holds ``2014-01/texts/de/en/de-en.tgz``, which holds ``de-en/`` with
``train.tags.de-en.{de,en}`` (one sentence a line among XML-ish talk headers) and the
``IWSLT14.TED*.de-en.{de,en}.xml`` dev/test files (``<seg id="N">`` lines in ``<doc>``s).
"""

from __future__ import annotations

import io
import random
import tarfile
from pathlib import Path

WORDS = [("haus", "house"), ("katze", "cat"), ("hund", "dog"), ("baum", "tree"), ("buch", "book"),
         ("wasser", "water"), ("stadt", "city"), ("kind", "child"), ("welt", "world"), ("zeit", "time")]

# Hand-made pairs the tests assert on (after tokenisation and lower-casing).
SPECIAL_TRAIN = [
    ("Das ist's, \"gut\".", "It's \"good\"."),               # apostrophes/quotes: Moses escaping
    ("Hund", "a dog runs in the big city now"),                # ratio 8 > 1.5: dropped by cleaning
    (" ".join(["Baum"] * 180), " ".join(["tree"] * 180)),      # 180 > 175 tokens: dropped
]
TEST_FILES = ("IWSLT14.TED.dev2010", "IWSLT14.TEDX.dev2012", "IWSLT14.TED.tst2010",
              "IWSLT14.TED.tst2011", "IWSLT14.TED.tst2012")


def sentence_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        idx = [rng.randrange(len(WORDS)) for _ in range(rng.randint(2, 6))]
        de = " ".join(WORDS[i][0] for i in idx).capitalize() + "."
        en = " ".join(WORDS[i][1] for i in idx).capitalize() + "."
        pairs.append((de, en))
    return pairs


def train_tags(pairs: list[tuple[str, str]], side: int) -> str:
    lang = ("de", "en")[side]
    header = [
        "<url>http://www.ted.com/talks/example.html</url>",
        f"<keywords>talks, {lang}</keywords>",
        "<speaker>Jane Doe</speaker>",
        "<talkid>1</talkid>",
        f"<title>Titel {lang}</title>",
        f"<description>Beschreibung {lang}</description>",
    ]
    return "\n".join(header + [p[side] for p in pairs]) + "\n"


def xml(name: str, lang: str, segments: list[str]) -> str:
    body = "\n".join(f'<seg id="{i}"> {s} </seg>' for i, s in enumerate(segments, 1))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<mteval>\n<srcset setid="{name}" srclang="{lang}">\n'
            f'<doc docid="1" genre="lectures">\n<url>http://www.ted.com/x</url>\n<talkid>1</talkid>\n'
            f"{body}\n</doc>\n</srcset>\n</mteval>\n")


def test_segments() -> dict[str, tuple[list[str], list[str]]]:
    """Two segments per dev/test file; the first German one names its file (``datei N``)."""
    out = {}
    for k, name in enumerate(TEST_FILES):
        de = [f"Datei {k} Haus.", "Die Katze\u2019s Welt."]
        en = [f"File {k} house.", "The cat\u2019s world."]
        out[name] = (de, en)
    return out


def files(n_train: int = 80, skip: tuple[str, ...] = ()) -> dict[str, str]:
    pairs = SPECIAL_TRAIN + sentence_pairs(n_train)
    out = {f"train.tags.de-en.{lang}": train_tags(pairs, side) for side, lang in enumerate(("de", "en"))}
    for name, (de, en) in test_segments().items():
        out[f"{name}.de-en.de.xml"] = xml(name, "german", de)
        out[f"{name}.de-en.en.xml"] = xml(name, "english", en)
    return {k: v for k, v in out.items() if k not in skip}


def _tgz(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_archive(path: Path, nested: bool = True, **kwargs) -> Path:
    """``nested``: WIT3's 2014-01.tgz around de-en.tgz; else fairseq's de-en.tgz alone."""
    inner = _tgz({f"de-en/{name}": text.encode("utf-8") for name, text in files(**kwargs).items()})
    path.write_bytes(_tgz({"2014-01/texts/de/en/de-en.tgz": inner}) if nested else inner)
    return path
