"""Real text that ships with every Python install: the standard library's own source files.

Language-model claims (kbench.kinds.law) train on these bytes (a byte-level vocabulary of 256,
no tokenizer to download). The files are pinned by name (FILES) and the text by its SHA-256 per
Python minor version (PINNED): the standard library changes between Python versions, so a
corpus whose digest differs from the pin is still usable but says so, and its results are not
comparable with runs on the pinned text. Every tenth file (by name) is held out for evaluation.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kbench.data.tasks import DataError

FILES: tuple[str, ...] = tuple(sorted("""
abc argparse ast base64 bisect calendar cmd codecs colorsys configparser contextlib copy csv dataclasses
datetime decimal difflib dis enum filecmp fileinput fnmatch fractions ftplib functools getopt gettext glob
gzip hashlib heapq hmac imaplib inspect ipaddress keyword linecache locale mailbox mimetypes numbers
operator optparse os pathlib pickle pickletools platform plistlib poplib pprint profile pstats queue quopri
random reprlib sched secrets selectors shelve shlex shutil smtplib socket socketserver statistics string
stringprep struct subprocess symtable tarfile tempfile textwrap threading timeit token tokenize trace
traceback tracemalloc types typing uuid warnings wave weakref webbrowser zipapp zipfile
""".split()))
HELD_OUT_EVERY = 10
# The digest of the joined files (in FILES order, each followed by a NUL byte), as measured on
# CPython 3.11.7; other versions are pinned when a run on them is committed. Patch releases can
# differ too (Debian 12's 3.11.2 does): a run there still works and records `pinned: false`.
PINNED: dict[str, str] = {
    "3.11": "10a8c18ae3480bf5e68527b2730bc839798da2a9a6f0ed8e287e733d3df7cebb",
}
VOCAB = 256


@dataclass(frozen=True)
class Corpus:
    train: np.ndarray  # uint8 bytes
    heldout: np.ndarray
    sha256: str
    python: str
    files: int

    @property
    def pinned(self) -> bool:
        return PINNED.get(self.python) == self.sha256

    def describe(self) -> dict[str, object]:
        return {"corpus": "python-stdlib", "python": self.python, "sha256": self.sha256, "pinned": self.pinned,
                "files": self.files, "train_bytes": int(self.train.size), "heldout_bytes": int(self.heldout.size)}


def _root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


@functools.lru_cache(maxsize=1)
def stdlib() -> Corpus:
    """The pinned files of this Python's standard library, split into training and held-out bytes."""
    root = _root()
    missing = [name for name in FILES if not (root / f"{name}.py").is_file()]
    if missing:
        raise DataError(f"the standard library at {root} lacks {len(missing)} pinned file(s) "
                        f"({', '.join(missing[:5])}): this Python cannot give the text corpus")
    digest = hashlib.sha256()
    train: list[bytes] = []
    held: list[bytes] = []
    for i, name in enumerate(FILES):
        data = (root / f"{name}.py").read_bytes() + b"\0"
        digest.update(data)
        (held if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else train).append(data)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Corpus(np.frombuffer(b"".join(train), dtype=np.uint8).copy(),
                  np.frombuffer(b"".join(held), dtype=np.uint8).copy(), digest.hexdigest(), version, len(FILES))
