"""Extract the King James Bible as plain text, with a train/validation split.

The text comes from Debian's package ``bible-kjv-text`` (read through the ``bible`` program of
the package ``bible-kjv``), so this script needs, once, on a Debian/Ubuntu machine::

    sudo apt-get install bible-kjv
    python data/corpus/make_corpus.py

It writes ``kjv_train.txt.gz`` and ``kjv_validation.txt.gz`` next to itself (gzip with a zero
timestamp, so the files are byte-for-byte reproducible). CI never runs it: the two files are
committed, and ``sparsecourse.models.load_corpus`` reads them.

Format: one chapter per block, the block starting with a header line ``<Book> <chapter>``
followed by one verse per line (verse numbers removed), blocks separated by a blank line.
Every 20th chapter in canonical order (chapter index 10, 30, 50, ...) goes to the validation
split, so about 5% of the chapters, spread over all books, are held out.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import subprocess
from pathlib import Path

BOOKS = [
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth",
    "1 Samuel", "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra",
    "Nehemiah", "Esther", "Job", "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon",
    "Isaiah", "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos",
    "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai", "Zechariah",
    "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "1 Corinthians",
    "2 Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "1 Thessalonians",
    "2 Thessalonians", "1 Timothy", "2 Timothy", "Titus", "Philemon", "Hebrews", "James",
    "1 Peter", "2 Peter", "1 John", "2 John", "3 John", "Jude", "Revelation",
]  # fmt: skip
VERSE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")
HOLDOUT_EVERY, HOLDOUT_OFFSET = 20, 10


def read_verses() -> list[tuple[str, int, str]]:
    """Return ``(book, chapter, verse text)`` for all 31,102 verses, in canonical order."""
    out = subprocess.run(
        ["bible", "-f", "gen1:1-rev22:21"], check=True, capture_output=True, text=True
    ).stdout
    verses, abbrevs = [], []
    for line in out.splitlines():
        m = VERSE.match(line)
        if m is None:
            raise ValueError(f"unexpected line from `bible`: {line!r}")
        abbrev, chapter, _verse, text = m.groups()
        if not abbrevs or abbrevs[-1] != abbrev:
            abbrevs.append(abbrev)
        verses.append((BOOKS[len(abbrevs) - 1], int(chapter), " ".join(text.split())))
    if len(abbrevs) != len(BOOKS) or len(verses) != 31102:
        raise ValueError(f"expected 66 books and 31102 verses, got {len(abbrevs)}, {len(verses)}")
    return verses


def main() -> None:
    chapters: dict[tuple[str, int], list[str]] = {}
    for book, chapter, text in read_verses():
        chapters.setdefault((book, chapter), []).append(text)
    splits: dict[str, list[str]] = {"train": [], "validation": []}
    for i, ((book, chapter), verses) in enumerate(chapters.items()):
        split = "validation" if i % HOLDOUT_EVERY == HOLDOUT_OFFSET else "train"
        splits[split].append(f"{book} {chapter}\n" + "\n".join(verses) + "\n")
    here = Path(__file__).resolve().parent
    for split, blocks in splits.items():
        text = "\n".join(blocks).encode("utf-8")
        path = here / f"kjv_{split}.txt.gz"
        with open(path, "wb") as raw, gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9
        ) as f:
            f.write(text)
        print(
            f"{path.name}: {len(blocks)} chapters, {len(text):,} bytes of text, "
            f"{path.stat().st_size:,} bytes gzipped, sha256 {hashlib.sha256(text).hexdigest()}"
        )


if __name__ == "__main__":
    main()
