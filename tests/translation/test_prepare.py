"""prepare-iwslt14.sh in Python, on a tiny archive in the real (nested WIT3) layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tasks.translation.bleu import remove_bpe
from tasks.translation.prepare import main, prepare
from tasks.translation.vocab import EOS_ID, Dictionary
from tests.translation.archive import sentence_pairs, write_archive


def _lines(out: Path, split: str, side: str) -> list[str]:
    d = Dictionary.load(out / "dict.txt")
    data = torch.load(out / f"{split}.pt")[side]
    tok, off = data["tokens"], data["offsets"]
    return [remove_bpe(d.string(tok[off[i]:off[i + 1]].tolist())) for i in range(len(off) - 1)]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("iwslt")
    prepare(write_archive(root / "2014-01.tgz"), root / "out", log=lambda *_: None)
    return root / "out"


def test_split_sizes_follow_cleaning_and_every_23rd_line(prepared: Path) -> None:
    # 86 lines survive the tag filter (speaker/title/description + 3 hand-made + 80); cleaning
    # drops the ratio-8 pair and the 180-token pair -> 84; lines 23, 46, 69 are validation.
    assert len(_lines(prepared, "train", "src")) == 81
    assert len(_lines(prepared, "valid", "src")) == 3
    assert len(_lines(prepared, "test", "tgt")) == 10
    pairs = sentence_pairs(80)
    # cleaned line 23 is random pair 18 (lines 1-3 headers, line 4 the first hand-made pair)
    de, en = pairs[18]
    assert _lines(prepared, "valid", "src")[0] == de.lower()[:-1] + " ."
    assert _lines(prepared, "valid", "tgt")[0] == en.lower()[:-1] + " ."


def test_tags_dropped_or_stripped_and_moses_tokenisation(prepared: Path) -> None:
    src, tgt = _lines(prepared, "train", "src"), _lines(prepared, "train", "tgt")
    assert not any("url" in s or "talkid" in s or "keywords" in s for s in src + tgt)
    assert src[1] == "titel de" and tgt[2] == "beschreibung en"  # tags removed, text kept
    assert src[0] == "&lt; speaker &gt; jane doe &lt; / speaker &gt;"  # the script keeps <speaker>
    assert src[3] == "das ist &apos; s , &quot; gut &quot; ."   # German: every apostrophe split
    assert tgt[3] == "it &apos;s &quot; good &quot; ."          # English: 's stays attached
    assert not any(s.startswith("hund") and len(s.split()) == 2 for s in src)  # ratio pair gone
    assert max(len(s.split()) for s in src) <= 175


def test_test_set_is_the_five_files_in_the_scripts_order(prepared: Path) -> None:
    # the BPE text (ids would show <unk> for pieces the training text never produced)
    src = [remove_bpe(s) for s in (prepared / "test.de").read_text().splitlines()]
    tgt = [remove_bpe(s) for s in (prepared / "test.en").read_text().splitlines()]
    assert len(_lines(prepared, "test", "src")) == len(src)
    assert [s for s in src if s.startswith("datei")] == [f"datei {k} haus ." for k in range(5)]
    assert src[1] == "die katze &apos; s welt ."  # ’ -> ' before tokenisation
    assert tgt[1] == "the cat &apos;s world ."


def test_joined_dictionary_and_ids(prepared: Path) -> None:
    d = Dictionary.load(prepared / "dict.txt")
    assert d.symbols[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert len(d) % 8 == 0
    # "." ends 78 of the 81 training lines on both sides: the most frequent symbol
    assert d.symbols[4] == "." and d.counts[4] == 2 * 78
    body = (prepared / "dict.txt").read_text().splitlines()
    assert "cat 39" in body and body.index("cat 39") < body.index("katze 39")  # ties alphabetical
    for split in ("train", "valid", "test"):
        for side in ("src", "tgt"):
            data = torch.load(prepared / f"{split}.pt")[side]
            ends = data["offsets"][1:] - 1
            assert torch.all(data["tokens"][ends] == EOS_ID)
    code = (prepared / "code").read_text().splitlines()
    assert code[0].startswith("#version") and len(code) > 20  # merges learned jointly
    train_de = (prepared / "train.de").read_text()
    assert "@@ " in (prepared / "test.de").read_text() and "titel de" in train_de


def test_second_run_reuses_and_a_new_archive_redoes(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "de-en.tgz", nested=False)  # fairseq's de-en.tgz layout
    messages: list[str] = []
    prepare(archive, tmp_path / "out", log=messages.append)
    stamp = (tmp_path / "out" / "train.pt").stat().st_mtime_ns
    messages.clear()
    prepare(archive, tmp_path / "out", log=messages.append)
    assert any("reusing" in m for m in messages)
    assert (tmp_path / "out" / "train.pt").stat().st_mtime_ns == stamp
    write_archive(archive, nested=False, n_train=60)
    messages.clear()
    manifest = prepare(archive, tmp_path / "out", log=messages.append)
    assert not any("reusing" in m for m in messages)
    assert manifest["pairs"] == {"train": 62, "valid": 2, "test": 10}  # 3 + 3 + 60 lines, 2 cleaned away, 23rd/46th


def test_missing_member_and_missing_archive_are_one_line_errors(tmp_path: Path, capsys) -> None:
    bad = write_archive(tmp_path / "bad.tgz", skip=("IWSLT14.TED.tst2012.de-en.en.xml",))
    assert main([str(bad), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "IWSLT14.TED.tst2012.de-en.en.xml" in err and "bad.tgz" in err
    assert not (tmp_path / "out").exists()
    assert main([str(tmp_path / "nope.tgz"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.tgz" in err
    (tmp_path / "junk.tgz").write_bytes(b"not a tar")
    assert main([str(tmp_path / "junk.tgz"), str(tmp_path / "out")]) == 2
    assert "junk.tgz" in capsys.readouterr().err
