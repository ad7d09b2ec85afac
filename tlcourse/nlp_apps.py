"""Other things pretrained language models do: extractive question answering, summarization
and text generation.

Offline, with the shipped MiniLM sentence encoder (any object with ``encode(texts)`` returning
unit-length rows works): :func:`retrieve_answer` picks the sentence of a passage nearest in
meaning to a question, :func:`central_sentence` the sentence nearest the passage's mean vector
(an extractive summary), and :func:`retrieval_comparison` scores both on the course's own
passages (:mod:`tlcourse.data.passages`) against TF-IDF word matching and, for summaries, the
first sentence.

Online, short demos for notebook 04's last section (models fine-tuned for each job):

Each model is a Hugging Face download (cached after the first time), loaded through
:func:`tlcourse.models.text.load_pretrained`: offline, a model that is not on disk stops at
once with an OfflineError saying what to do. Any local directory saved with
``save_pretrained`` works too, which is how the tests run these paths without a network.

(transformers 5 dropped the ``question-answering`` and ``summarization`` pipelines; the few
lines each one needs are written out here, which also shows what the models compute.)
"""
from __future__ import annotations

import pandas as pd
import torch

from .config import seed_everything
from .data.passages import PASSAGES, qa_items
from .models.text import load_pretrained

QA_MODEL = "distilbert-squad"  # DistilBERT fine-tuned on SQuAD (65M parameters)
SUMMARY_MODEL = "t5-small"  # T5, 60M parameters, trained with a "summarize: " prefix
GENERATOR_MODEL = "gpt2"  # GPT-2 small, 124M parameters
OFFLINE_ALTERNATIVE = 'the offline sections of notebook 04 (text_model("minilm") on the tweets)'


def answer_question(question: str, context: str, model: str = QA_MODEL, max_answer_tokens: int = 30) -> dict:
    """Extractive QA: the span of ``context`` that answers ``question``.

    The model scores every context token twice: as the start of the answer and as its end.
    The answer is the span (start <= end, at most ``max_answer_tokens`` tokens) with the
    highest start + end score. Returns ``{"answer", "score", "start", "end"}``: the text,
    the span's probability under the model (0-1) and its character positions in ``context``.
    """
    qa, tokenizer = load_pretrained(model, "AutoModelForQuestionAnswering", OFFLINE_ALTERNATIVE)
    inputs = tokenizer(question, context, truncation="only_second", max_length=384,
                       return_offsets_mapping=True, return_tensors="pt")
    offsets = inputs.pop("offset_mapping")[0]
    in_context = torch.tensor([s == 1 for s in inputs.sequence_ids(0)])
    with torch.inference_mode():
        out = qa.eval()(**inputs)
    start, end = out.start_logits[0].log_softmax(-1), out.end_logits[0].log_softmax(-1)
    scores = start[:, None] + end[None, :]  # (T, T): log P(start = i) + log P(end = j)
    span = torch.ones_like(scores, dtype=torch.bool).triu().tril(max_answer_tokens - 1)
    scores = scores.masked_fill(~(span & in_context[:, None] & in_context[None, :]), float("-inf"))
    i, j = divmod(int(scores.argmax()), scores.shape[1])
    first, last = int(offsets[i][0]), int(offsets[j][1])
    return {"answer": context[first:last], "score": float(scores[i, j].exp()), "start": first, "end": last}


def summarize_text(text: str, model: str = SUMMARY_MODEL, max_new_tokens: int = 60,
                   prefix: str | None = None) -> str:
    """A short summary of ``text`` written by an encoder-decoder model (greedy decoding).

    T5 was pretrained on many tasks at once, each named by a prefix; ``prefix`` defaults to
    ``"summarize: "`` for T5 models and to nothing otherwise.
    """
    seq2seq, tokenizer = load_pretrained(model, "AutoModelForSeq2SeqLM", OFFLINE_ALTERNATIVE)
    if prefix is None:
        prefix = "summarize: " if "t5" in model.lower() else ""
    inputs = tokenizer(prefix + text, truncation=True, max_length=512, return_tensors="pt")
    with torch.inference_mode():
        ids = seq2seq.eval().generate(inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                      max_new_tokens=max_new_tokens, do_sample=False,
                                      no_repeat_ngram_size=3)
    return tokenizer.decode(ids[0], skip_special_tokens=True).strip()


def generate_text(prompt: str, model: str = GENERATOR_MODEL, max_new_tokens: int = 30,
                  temperature: float = 0.8, seed: int = 0) -> str:
    """``prompt`` continued by a decoder-only language model (GPT-2), sampling each next token.

    Sampling among the 50 likeliest tokens, at ``temperature``, avoids the loops that
    always taking the likeliest token falls into; ``seed`` makes it repeat.
    """
    lm, tokenizer = load_pretrained(model, "AutoModelForCausalLM", OFFLINE_ALTERNATIVE)
    inputs = tokenizer(prompt, return_tensors="pt")
    seed_everything(seed)
    with torch.inference_mode():
        ids = lm.eval().generate(inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                 max_new_tokens=max_new_tokens, do_sample=True, top_k=50,
                                 temperature=temperature, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(ids[0], skip_special_tokens=True)


def _tfidf_vectors(texts: list[str]) -> torch.Tensor:
    """TF-IDF rows of ``texts`` (fitted on these texts alone), unit length, as a dense tensor."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    rows = TfidfVectorizer(sublinear_tf=True).fit_transform(texts)  # rows are L2-normalised
    return torch.tensor(rows.toarray(), dtype=torch.float32)


def retrieve_answer(question: str, sentences: list[str], encoder=None) -> int:
    """The index of the sentence of ``sentences`` that answers ``question``: the one whose
    vector has the highest cosine similarity with the question's.

    ``encoder``: a sentence encoder (``encode(texts)`` -> unit rows, e.g. ``text_model("minilm")``);
    None matches words instead, with TF-IDF vectors fitted on the passage and the question.
    """
    if not sentences:
        raise ValueError("retrieve_answer needs at least one sentence to choose from.")
    texts = [question, *sentences]
    vectors = _tfidf_vectors(texts) if encoder is None else encoder.encode(texts)
    return int((vectors[1:] @ vectors[0]).argmax())


def central_sentence(sentences: list[str], encoder=None) -> int:
    """An extractive one-sentence summary: the index of the sentence nearest the mean of all the
    passage's sentence vectors (the centroid method). ``encoder`` as in :func:`retrieve_answer`."""
    if not sentences:
        raise ValueError("central_sentence needs at least one sentence.")
    vectors = _tfidf_vectors(sentences) if encoder is None else encoder.encode(sentences)
    return int((vectors @ vectors.mean(0)).argmax())


def retrieval_comparison(encoder) -> pd.DataFrame:
    """Accuracy (%) of answer retrieval and one-sentence summaries on the course's passages,
    for ``encoder`` (named by its ``name``) and the word-matching baselines.

    Rows: ``answer`` (all questions), ``answer, question shares a word with its answer``,
    ``answer, question in other words`` and ``summary``; columns: the encoder, ``tfidf`` and
    (for the summary only) ``first sentence``. The last column, ``items``, counts what each row
    scores.
    """
    name = getattr(encoder, "name", "encoder")
    items = qa_items()
    hits = pd.DataFrame([{"shares_words": item["shares_words"],
                          name: retrieve_answer(item["question"], item["sentences"], encoder) == item["answer"],
                          "tfidf": retrieve_answer(item["question"], item["sentences"]) == item["answer"]}
                         for item in items])
    summaries = pd.DataFrame([{name: central_sentence(p["sentences"], encoder) == p["summary"],
                               "tfidf": central_sentence(p["sentences"]) == p["summary"],
                               "first sentence": p["summary"] == 0} for p in PASSAGES])
    parts = {"answer": hits, "answer, question shares a word with its answer": hits[hits.shares_words],
             "answer, question in other words": hits[~hits.shares_words], "summary": summaries}
    rows = {label: {**(part[[c for c in part if c != "shares_words"]].mean() * 100).round(1).to_dict(),
                    "items": len(part)} for label, part in parts.items()}
    table = pd.DataFrame(rows).T[[name, "tfidf", "first sentence", "items"]]
    return table.astype({"items": int}).fillna("-")  # "-": the first sentence answers no question
