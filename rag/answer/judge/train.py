"""Training the answer judge, reproducibly: ``newsrag models train-judge``.

The data (read from ``../shared/data`` and the project's own ``data/judge``):
- Belebele (``belebele_it_en.questions.jsonl`` with its passages): each question's correct
  option is found in one sentence of its passage (the sentence that shares most of the
  option's words, by a clear margin; questions asking what is *not* said, and those whose
  option no sentence carries, are left out). The passages are sentence-aligned translations,
  so the same sentence is labelled in the other language too: an Italian question against the
  English passage and the reverse. The other sentences of the passage are the negatives.
- ``data/judge/fakes_train.jsonl``: questions the team wrote on FA-KES articles that no
  evaluation set uses, each with the sentence that answers it, or none (``not_stated``: the
  article tells the event but not the asked fact).

Split by story, never by question: a story (a Belebele passage pair, a FA-KES article and its
near-duplicates) is in the test fifth when its id's SHA-1 says so, and every Belebele story that
an evaluation set in ``data/eval`` asks about is left out altogether.

The judge is multilingual-e5-small fine-tuned as a cross-encoder (``cross_encoder``): its upper
half learns, its word embeddings and lower layers stay. One pass over the training questions
takes about 9 minutes on 2 cores; the held-out and evaluation sets are then scored (about 6
more). It is seeded and runs on a fixed number of threads, so a machine of the same kind
rebuilds the same weights; the file is shipped, so nothing needs to rebuild it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError, ModelError
from ...evaluate import states_fact
from ...onnx_embedder import padded, tokenizer_of
from ...sentences import sentence_spans
from ...words import tokenize
from .model import FORMAT, pair_ids

MIN_WORDS = 4  # shorter "sentences" are datelines and crumbs (the answerer skips them too)
MAX_SENTENCES = 40
TEST_SHARE = 5  # one story in five is held out
# the recipe (measured on the held-out stories and the two evaluation sets, see the card)
SEED = 0
FROZEN = 6  # of 12 layers, the lower ones stay as the embedding model has them
NEGATIVES = 3  # other sentences of the passage beside the answering one, per question
QUESTIONS_PER_STEP = 4
LR = 1e-4  # the head's is ten times this
MAX_TOKENS = 96  # question and sentence together
THREADS = 2  # training runs on the same number of threads everywhere (determinism)
QUERY_PROMPT, PASSAGE_PROMPT = "query: ", "passage: "  # e5's prompts
_NEGATED = re.compile(
    r"\b(?:not|NOT|never|except|false|untrue|non|NON|falso|falsa|tranne|eccetto|mai)\b"
)


@dataclass
class Example:
    """One question against the sentences of one passage; ``label`` is the index of the one
    that states the answer, or None when none does."""

    story: str
    source: str
    question: str
    lang: str
    sentences: list[str]
    positions: list[int]
    sent_lang: str
    label: int | None
    test: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def is_test(story: str) -> bool:
    return int(hashlib.sha1(story.encode()).hexdigest(), 16) % TEST_SHARE == 0


def split(text: str) -> tuple[list[str], list[int]]:
    """The sentences of ``text`` that the answerer would consider, and their positions."""
    out, positions = [], []
    for i, (a, b) in enumerate(sentence_spans(text)):
        s = text[a:b].strip()
        if len(s.split()) >= MIN_WORDS:
            out.append(s)
            positions.append(i)
    return out[:MAX_SENTENCES], positions[:MAX_SENTENCES]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"{path} is missing: the judge is trained from it (see its README).")
    rows = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: not JSON ({exc.msg}).") from exc
    return rows


def eval_stories(eval_dir: Path) -> set[str]:
    """Every id an evaluation set names (relevant ids, and FA-KES / Belebele ids in notes)."""
    found: set[str] = set()
    for path in sorted(eval_dir.glob("*.jsonl")):
        for row in _read_jsonl(path):
            found.update(map(str, row.get("relevant_ids") or ()))
            note = str(row.get("note", ""))
            found.update(re.findall(r"belebele:(?:en|it):\d+", note))
            found.update(f"fakes:{n}" for n in re.findall(r"\b\d{10}\b", note))
    return found


def _overlap(answer: str, sentence: str, lang: str) -> float:
    a = set(tokenize(answer, lang))
    return len(a & set(tokenize(sentence, lang))) / len(a) if a else 0.0


def belebele_examples(data: Path, excluded: set[str]) -> list[Example]:
    passages = {r["id"]: r for r in _read_jsonl(data / "belebele_it_en.passages.jsonl")}
    out = []
    for q in _read_jsonl(data / "belebele_it_en.questions.jsonl"):
        lang, other = q["lang"], "it" if q["lang"] == "en" else "en"
        own = passages.get(q["relevant_ids"][0].replace(":it:", f":{lang}:").replace(
            ":en:", f":{lang}:"))  # fmt: skip
        if own is None or q.get("generic_question") or _NEGATED.search(q["question"]):
            continue
        story = own["pair_id"]
        pair = {f"belebele:{x}:{story.split(':')[-1]}" for x in ("en", "it")}
        if pair & excluded:
            continue
        spans = sentence_spans(own["text"])
        scores = sorted(
            ((_overlap(q["answer"], own["text"][a:b], lang), i) for i, (a, b) in enumerate(spans)),
            reverse=True,
        )
        if (
            not scores
            or scores[0][0] < 0.5
            or (len(scores) > 1 and scores[1][0] > scores[0][0] - 0.2)
        ):
            continue
        at = scores[0][1]
        for passage in (own, passages.get(f"belebele:{other}:{story.split(':')[-1]}")):
            if passage is None:
                continue
            if passage is not own and len(sentence_spans(passage["text"])) != len(spans):
                continue  # not sentence-aligned: the label cannot be carried over
            sentences, positions = split(passage["text"])
            if at not in positions:
                continue
            out.append(Example(
                story, "belebele", q["question"], lang, sentences, positions, passage["lang"],
                positions.index(at), is_test(story), {"qid": q["qid"]},
            ))  # fmt: skip
    return out


def fakes_examples(data: Path, own: Path, excluded: set[str]) -> list[Example]:
    articles = {r["id"]: r for r in _read_jsonl(data / "fakes_syria_en.passages.jsonl")}
    # near-duplicates (the same wire story twice) share a story, so they share a split
    story_of: dict[str, str] = {}
    for aid, r in articles.items():
        key = re.sub(r"\s+", " ", r["text"][:200].lower()).strip()
        story_of[aid] = story_of.get(key, aid)
        story_of.setdefault(key, aid)
    out = []
    for n, row in enumerate(_read_jsonl(own), 1):
        article = articles.get(row.get("article_id", ""))
        if article is None or row.get("kind") not in ("answerable", "not_stated"):
            raise InputError(
                f"{own}:{n}: needs an article_id of {data / 'fakes_syria_en.passages.jsonl'} "
                "and kind answerable or not_stated."
            )
        if article["id"] in excluded:
            continue
        sentences, positions = split(article["text"])
        label = None
        if row["kind"] == "answerable":
            target = row["answer_sentence"].strip()
            label = next((i for i, s in enumerate(sentences) if target in s or s in target), None)
            if label is None:
                continue  # a sentence the splitter cuts otherwise, or beyond MAX_SENTENCES
        story = story_of[article["id"]]
        out.append(Example(
            story, "fakes", row["question"], row["lang"], sentences, positions, "en", label,
            is_test(story), {"qid": row.get("qid", f"line-{n}")},
        ))  # fmt: skip
    return out


def cross_encoder(folder: Path, trained: dict[str, np.ndarray] | None = None) -> Any:
    """The judge as a torch module: the embedding model in ``folder`` reading a question and a
    sentence together, its token states mean-pooled, one linear head. ``trained`` (a weights
    file's tensors) replaces what training changed."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # its load report lists e5's unused pooler
    transformers_logging.disable_progress_bar()

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(
                str(folder), local_files_only=True, add_pooling_layer=False
            )
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
            torch.nn.init.zeros_(self.head.weight)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            return self.head(pooled).squeeze(-1)

    model = CrossEncoder()
    if trained is not None:
        state = {k: torch.from_numpy(v.astype(np.float32)) for k, v in trained.items()}
        missing = set(state) - set(model.state_dict())
        if missing:
            raise ModelError(
                f"The judge's weights name {sorted(missing)[:3]}, which {folder} has not: they "
                "were trained on another model; rebuild them with `newsrag models train-judge`."
            )
        model.load_state_dict(state, strict=False)
    model.eval()
    return model


class Pairs:
    """Token ids of (question, sentence) pairs, as the judge reads them at answer time
    (rag/answer/judge/model.py ``pair_ids``), padded into one batch."""

    def __init__(self, folder: Path, max_tokens: int = MAX_TOKENS) -> None:
        self._tokenizer = tokenizer_of(folder)
        self.max_tokens = max_tokens
        self._cache: dict[str, list[int]] = {}

    def _ids(self, text: str) -> list[int]:
        if text not in self._cache:
            self._cache[text] = self._tokenizer.encode(text, add_special_tokens=False).ids
        return self._cache[text]

    def batch(self, pairs: Sequence[tuple[str, str]]) -> tuple[Any, Any]:
        import torch

        ids, mask = padded([
            pair_ids(self._ids(QUERY_PROMPT + q), self._ids(PASSAGE_PROMPT + s), self.max_tokens)
            for q, s in pairs
        ])  # fmt: skip
        return torch.from_numpy(ids), torch.from_numpy(mask)


def fit(
    model: Any,
    pairs: Pairs,
    examples: Sequence[Example],
    *,
    seed: int = SEED,
    negatives: int = NEGATIVES,
    per_step: int = QUESTIONS_PER_STEP,
    lr: float = LR,
    progress: Callable[[str], None] = lambda _: None,
) -> Any:
    """One pass over ``examples`` in a seeded order, ``per_step`` questions a step, each against
    its answering sentence and ``negatives`` other sentences of its passage (or ``negatives`` + 1
    when none answers), with a listwise loss: a softmax over those sentences and "none" (a
    logit of 0), the answering sentence or "none" the target. Choosing one sentence among its
    neighbours, or none, is the decision the answerer makes. The lower ``FROZEN`` layers and
    the word embeddings stay as they are; AdamW with a short warm-up and a linear decay."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    for p in model.encoder.embeddings.parameters():
        p.requires_grad = False
    for layer in model.encoder.encoder.layer[:FROZEN]:
        for p in layer.parameters():
            p.requires_grad = False
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": lr}, {"params": list(model.head.parameters()), "lr": lr * 10}],
        weight_decay=0.01,
    )
    order = list(examples)
    rng.shuffle(order)
    steps = max(1, -(-len(order) // per_step))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 20) * max(0.0, 1 - s / (steps + 1))
    )
    model.train()
    for step in range(steps):
        chunk = order[step * per_step : (step + 1) * per_step]
        batch: list[tuple[str, str]] = []
        groups = []
        for e in chunk:
            others = [i for i in range(len(e.sentences)) if i != e.label]
            rng.shuffle(others)
            picked = (
                [e.label, *others[:negatives]] if e.label is not None else others[: negatives + 1]
            )
            groups.append((len(batch), len(picked), 0 if e.label is not None else len(picked)))
            batch += [(e.question, e.sentences[i]) for i in picked]
        logits = model(*pairs.batch(batch))
        loss = torch.stack([
            torch.nn.functional.cross_entropy(
                torch.cat([logits[a : a + n], torch.zeros(1)]).unsqueeze(0), torch.tensor([t])
            )
            for a, n, t in groups
        ]).mean()  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            progress(f"step {step}/{steps}: loss {loss.item():.3f}")
    model.eval()
    return model


def trained_weights(model: Any) -> dict[str, np.ndarray]:
    """What training changed (the upper layers and the head), fp16: the shipped file."""
    frozen = ("encoder.embeddings.", *(f"encoder.encoder.layer.{i}." for i in range(FROZEN)))
    return {
        k: v.detach().numpy().astype(np.float16)
        for k, v in model.state_dict().items()
        if not k.startswith(frozen) and "position_ids" not in k
    }


def scores_of(model: Any, pairs: Pairs, examples: Sequence[Example]) -> list[np.ndarray]:
    """The judge's logit for each sentence of each example."""
    import torch

    out = []
    with torch.no_grad():
        for e in examples:
            logits = model(*pairs.batch([(e.question, s) for s in e.sentences]))
            out.append(logits.numpy().astype(np.float32))
    return out


def report(examples: Sequence[Example], scores: Sequence[np.ndarray]) -> dict[str, Any]:
    """Sentence choice (acc@1 among a passage's sentences) against the lead, by source and by
    same/cross language, and how well "some sentence answers" (1 - the softmax share of
    "none") tells an answered FA-KES question from a not-stated one (AUC)."""
    groups: dict[str, list[tuple[bool, bool]]] = {}
    for e, s in zip(examples, scores, strict=True):
        if e.label is None:
            continue
        row = (int(np.argmax(s)) == e.label, e.label == 0)
        cross = "cross" if e.lang != e.sent_lang else "same"
        for key in ("all", e.source, cross):
            groups.setdefault(key, []).append(row)
    out: dict[str, Any] = {
        k: {"n": len(v), "judge_acc1": _mean(r[0] for r in v), "lead_acc1": _mean(r[1] for r in v)}
        for k, v in sorted(groups.items())
    }

    def answered(s: np.ndarray) -> float:
        z = np.append(s, 0.0)
        p = np.exp(z - z.max())
        return float(1 - p[-1] / p.sum())

    pos = [answered(s) for e, s in zip(examples, scores, strict=True)
           if e.label is not None and e.source == "fakes"]  # fmt: skip
    neg = [answered(s) for e, s in zip(examples, scores, strict=True) if e.label is None]
    if pos and neg:
        out["not_stated_auc"] = round(
            sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg)), 3
        )
    return out


def eval_examples(path: Path, articles: dict[str, dict[str, Any]]) -> list[Example]:
    """The answerable questions of an evaluation set (``data/eval/*.jsonl``) against each
    relevant article's sentences, the ones that state a key fact labelled: how often the
    right article's right sentence is chosen. Never trained on."""
    out = []
    for row in _read_jsonl(path):
        facts = row.get("key_facts") or []
        for aid in row.get("relevant_ids") or []:
            article = articles.get(aid)
            if article is None or not facts:
                continue
            sentences, positions = split(article["text"])
            hits = [i for i, s in enumerate(sentences) if states_fact(s, facts)]
            if len(hits) != 1:
                continue  # no sentence or several: not a test of choosing one
            out.append(Example(
                aid, path.stem, row["question"], row["lang"], sentences, positions,
                article["lang"], hits[0], True, {"qid": row["qid"]},
            ))  # fmt: skip
    return out


# --- the command ----------------------------------------------------------------------------


def train_judge(
    shared_data: Path,
    project: Path,
    folder: Path,
    label: str,
    out: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Train the judge on the embedding model installed in ``folder`` (named ``label``) from the
    data above, write its weights to ``out`` and its card beside it; returns the card."""
    import torch

    for needed in ("belebele_it_en.passages.jsonl", "belebele_it_en.questions.jsonl",
                   "fakes_syria_en.passages.jsonl"):  # fmt: skip
        if not (shared_data / needed).is_file():
            raise InputError(
                f"{shared_data / needed} is missing: point --data at the folder with the shared "
                "Belebele and FA-KES files (../shared/data beside the project)."
            )
    if not (folder / "tokenizer.json").is_file():
        raise InputError(f"{folder} is not an installed model: run `newsrag models install`.")
    excluded = eval_stories(project / "data" / "eval")
    examples = belebele_examples(shared_data, excluded)
    examples += fakes_examples(
        shared_data, project / "data" / "judge" / "fakes_train.jsonl", excluded
    )
    train = [e for e in examples if not e.test]
    test = [e for e in examples if e.test]
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        progress(f"training on {len(train)} questions ({len(test)} held out by story)…")
        pairs = Pairs(folder)
        model = fit(cross_encoder(folder), pairs, train, progress=progress)
        progress("scoring the held-out stories and the evaluation sets…")
        held_out = report(test, scores_of(model, pairs, test))
        articles: dict[str, dict[str, Any]] = {}
        for name in ("fakes_syria_en.passages.jsonl", "belebele_it_en.passages.jsonl",
                     "meantime_it_en.passages.jsonl"):  # fmt: skip
            if (shared_data / name).is_file():
                articles.update((r["id"], r) for r in _read_jsonl(shared_data / name))
        sets = {}
        for name in ("news", "meantime"):
            path = project / "data" / "eval" / f"{name}.jsonl"
            ev = eval_examples(path, articles) if path.is_file() else []
            if ev:
                sets[name] = report(ev, scores_of(model, pairs, ev))
        weights = trained_weights(model)
    finally:
        torch.set_num_threads(threads)
    card = {
        "embedding_model": label,
        "seed": SEED,
        "recipe": {"frozen_layers": FROZEN, "negatives": NEGATIVES, "lr": LR,
                   "questions_per_step": QUESTIONS_PER_STEP, "max_tokens": MAX_TOKENS,
                   "threads": THREADS, "epochs": 1},
        "examples": {"train": len(train), "held_out": len(test),
                     "by_source": {s: sum(e.source == s for e in examples)
                                   for s in ("belebele", "fakes")}},
        "held_out": held_out,
        "eval_sets": sets,
    }  # fmt: skip
    meta = {**card, "format": FORMAT, "max_tokens": MAX_TOKENS, "query_prompt": QUERY_PROMPT,
            "passage_prompt": PASSAGE_PROMPT}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {**weights, "meta": np.array(json.dumps(meta, sort_keys=True))}
    with out.open("wb") as f:
        np.savez_compressed(f, **arrays)
    card["bytes"] = out.stat().st_size
    card["sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()
    out.with_suffix(".card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return card


def _mean(values: Iterable[bool]) -> float:
    v = list(values)
    return round(sum(v) / len(v), 3) if v else 0.0
