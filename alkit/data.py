"""Datasets as uniform tables: a registry, a file resolver, one reader per dataset, fixed splits.

``load(name, split)`` returns a :class:`TextDataset` whose ``df`` row ``i`` is global index ``i``.
Files are looked up as ``<root>/<spec.folder>/<file>`` for each root of
:func:`alkit.paths.data_roots` (``$ALKIT_DATA_DIR``, ``./data``, ``../shared/data``). With no
local copy and the Hub allowed (neither ``HF_HUB_OFFLINE`` nor ``HF_DATASETS_OFFLINE`` set), the
table is built from ``datasets.load_dataset(spec.hub_id)`` instead; otherwise a FileNotFoundError
says which files to put where. Parsed tables are cached in memory per (name, split).

Columns by task (``id`` is ``<source>-<row>``, or the file's own id where it has one):

- classification: ``id``, ``text``, ``label`` (int64, 0..C-1 in ``label_names`` order). qnli adds
  ``text_a`` (question) / ``text_b`` (sentence) with ``text = "<question> [SEP] <sentence>"``;
  pubmedqa adds ``context`` (its abstract's sections joined by newlines) and ``long_answer``.
- qa: ``id``, ``question`` (the prompt exactly as in the file), ``answer`` (gold text as in the
  file), ``target`` ("true"/"false", "A".."D", or GSM8K's number after ``#### `` without commas),
  ``text`` (= question); boolq and obqa add ``label`` (false/true = 0/1, A..D = 0..3).
- instruction: niv2 ``id, task, category, definition, input, output, outputs, positive_examples,
  is_classification, text`` (one row per instance, ``text`` = input); self_instruct ``id,
  name | motivation_app, instruction, input, output, [is_classification], text`` (``text`` =
  instruction, plus a blank line and the input when there is one).

Datasets without an official split of their labelled rows (qnli, mr, subj, cr, mpqa,
financial_phrasebank) are split 80/20 with ``train_test_split(stratify=label, random_state=0)``;
both halves keep file order. Prompt templates and answer extraction for generations live in
:mod:`alkit.prompts`.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import train_test_split

from alkit import paths
from alkit.io import text_hash
from alkit.types import as_indices

TASKS = ("classification", "qa", "instruction")
HOLDOUT_SEED = 0  # the one seed of every split we make ourselves (same rows on every machine)
HOLDOUT_TEST_SIZE = 0.2
Loaded = tuple[pd.DataFrame, tuple[str, ...] | None]  # the table and its label names (None: no labels)


@dataclass(frozen=True)
class DatasetSpec:
    """One registry entry.

    Attributes
    ----------
    name : key for :func:`load`.
    task : "classification" | "qa" | "instruction"; fixes the columns (see the module docstring).
    hub_id : Hugging Face Hub id of the online fallback; None when no Hub copy maps onto this table.
    splits : the valid ``split`` arguments of :func:`load`.
    description : one line: files used, how splits are made, their sizes.
    folder : folder under a data root, e.g. ``"star/BoolQ"``.
    files : files relative to ``folder`` that must all exist for the local copy to be used.
    hub_config : configuration of ``hub_id`` (``"qnli"`` of ``"nyu-mll/glue"``), if any.
    """

    name: str
    task: str
    hub_id: str | None
    splits: tuple[str, ...]
    description: str
    folder: str
    files: tuple[str, ...]
    hub_config: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: unknown task {self.task!r}; choose from {list(TASKS)}")
        if not self.splits or not self.files:
            raise ValueError(f"{self.name}: a spec needs splits and files")


_TT = ("train", "test")
_SPECS = (
    DatasetSpec("sst2", "classification", "stanfordnlp/sst2", _TT,
                folder="sst2", files=("train.tsv", "dev.tsv"),
                description="SST-2 (GLUE): train.tsv (67,349) = train, labelled dev.tsv (872) = test; negative/positive"),
    DatasetSpec("ag_news", "classification", "fancyzhx/ag_news", _TT,
                folder="ag_news", files=("classes.txt", "test.csv", "alps_subset/dev.tsv"),
                description=(
                    "AG News, DESCRIPTION ONLY in both splits (the train subset has no titles): train = ALPS "
                    "subset alps_subset/dev.tsv (10,001 of the 120k), test = test.csv (7,600); classes.txt order."
                    " The Hub fallback gives title + description and the full train")),
    DatasetSpec("qnli", "classification", "nyu-mll/glue", _TT,
                folder="qnli", files=("dev.tsv",), hub_config="qnli",
                description=(
                    "QNLI (GLUE) dev.tsv (5,463; no train available) split 80/20 stratified by label (seed 0): "
                    "train 4,370 / test 1,093; text = question [SEP] sentence; entailment/not_entailment")),
    DatasetSpec("trec", "classification", "CogComp/trec", _TT,
                folder="trec", files=("train_5500.label", "TREC_10.label"),
                description=(
                    "TREC coarse (6 labels): train_5500.label (5,452) / TREC_10.label (500), latin-1 (its one "
                    "stray 0xf0 byte read as a space, as on the Hub)")),
    DatasetSpec("trec_fine", "classification", "CogComp/trec", _TT,
                folder="trec", files=("train_5500.label", "TREC_10.label"),
                description=(
                    "TREC fine (50 labels 'COARSE:fine'): train_5500.label (5,452) / TREC_10.label (500), latin-1"
                    " (its one stray 0xf0 byte read as a space, as on the Hub)")),
    DatasetSpec("banking77", "classification", "PolyAI/banking77", _TT,
                folder="banking77", files=("train.csv", "test.csv", "categories.json"),
                description=(
                    "BANKING77: train.csv (10,003) / test.csv (3,080), 77 intents in categories.json order (the "
                    "Hub fallback uses the Hub's order)")),
    DatasetSpec("mr", "classification", "cornell-movie-review-data/rotten_tomatoes", _TT,
                folder="senteval", files=("MR.txt",),
                description=(
                    "SentEval MR.txt (10,662) split 80/20 stratified by label (seed 0): train 8,529 / test 2,133;"
                    " negative/positive")),
    DatasetSpec("subj", "classification", "SetFit/subj", _TT,
                folder="senteval", files=("SUBJ.txt",),
                description=(
                    "SentEval SUBJ.txt (10,000) split 80/20 stratified by label (seed 0): train 8,000 / test "
                    "2,000; subjective/objective")),
    DatasetSpec("cr", "classification", None, _TT,
                folder="senteval", files=("CR.txt",),
                description=(
                    "SentEval CR.txt (3,774) split 80/20 stratified by label (seed 0): train 3,019 / test 755; "
                    "negative/positive")),
    DatasetSpec("mpqa", "classification", None, _TT,
                folder="senteval", files=("MPQA.txt",),
                description=(
                    "SentEval MPQA.txt (10,605 phrases) split 80/20 stratified by label (seed 0): train 8,484 / "
                    "test 2,121; negative/positive")),
    DatasetSpec("financial_phrasebank", "classification", "takala/financial_phrasebank", _TT,
                folder="financial_phrasebank", files=("Sentences_50Agree.txt",), hub_config="sentences_50agree",
                description=(
                    "Financial PhraseBank Sentences_50Agree.txt (4,846) split 80/20 stratified by label (seed 0):"
                    " train 3,876 / test 970; negative/neutral/positive")),
    DatasetSpec("pubmedqa", "classification", None, _TT,
                folder="pubmedqa", files=("ori_pqal.json", "test_ground_truth.json"),
                description=(
                    "PubMedQA-L ori_pqal.json (1,000): test = the official 500 ids of test_ground_truth.json, "
                    "train = the other 500; text = question, context column; yes/no/maybe (no Hub fallback: the "
                    "official test ids are not on the Hub)")),
    DatasetSpec("boolq", "qa", "google/boolq", _TT,
                folder="star/BoolQ", files=("train.jsonl", "test.jsonl"),
                description=(
                    "STAR's BoolQ prompts (question only, no passage): train.jsonl (9,427) / test.jsonl (3,270 = "
                    "BoolQ dev); target true/false")),
    DatasetSpec("obqa", "qa", "allenai/openbookqa", _TT,
                folder="star/OBQA", files=("train.jsonl", "test.jsonl"), hub_config="main",
                description=(
                    "STAR's OpenBookQA prompts: train.jsonl (4,957) / test.jsonl (500); target A-D (the test "
                    "prompts write 'AnswerA: ', train 'AnswerA ')")),
    DatasetSpec("gsm8k", "qa", "openai/gsm8k", _TT,
                folder="gsm8k", files=("train.jsonl", "test.jsonl"), hub_config="main",
                description=(
                    "GSM8K: train.jsonl (7,473) / test.jsonl (1,319); target = number after '#### ' without "
                    "commas")),
    DatasetSpec("niv2", "instruction", None, _TT,
                folder="niv2", files=("splits/default/train_tasks.txt", "splits/default/test_tasks.txt", "tasks/INDEX.tsv"),
                description=(
                    "Super-NaturalInstructions default split lists (756 train / 119 test tasks); rows = instances"
                    " of the tasks present in tasks/ (226 train / 106 test; see niv2_missing_tasks)")),
    DatasetSpec("self_instruct", "instruction", None, ("seed", "eval"),
                folder="self_instruct", files=("seed_tasks.jsonl", "self_instruct_user_oriented_instructions.jsonl"),
                description=(
                    "Self-Instruct: seed = seed_tasks.jsonl (175 tasks), eval = the 252 user-oriented "
                    "instructions; one row per instance")),
)  # fmt: skip
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}

# Fixed label orders (the Hub's, where the Hub has the dataset); ag_news and banking77 read theirs.
_TREC_COARSE = ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM")
_TREC_FINE = tuple(
    f"{coarse}:{fine}"
    for coarse, fines in (
        ("ABBR", "abb exp"),
        ("ENTY", "animal body color cremat currency dismed event food instru lang letter other plant "
                 "product religion sport substance symbol techmeth termeq veh word"),
        ("DESC", "def desc manner reason"),
        ("HUM", "gr ind title desc"),
        ("LOC", "city country mount other state"),
        ("NUM", "code count date dist money ord other period perc speed temp volsize weight"),
    )
    for fine in fines.split()
)  # fmt: skip
_NEG_POS = ("negative", "positive")
_LABEL_NAMES: dict[str, tuple[str, ...]] = {
    "sst2": _NEG_POS, "mr": _NEG_POS, "cr": _NEG_POS, "mpqa": _NEG_POS, "subj": ("subjective", "objective"),
    "qnli": ("entailment", "not_entailment"), "trec": _TREC_COARSE, "trec_fine": _TREC_FINE,
    "financial_phrasebank": ("negative", "neutral", "positive"), "pubmedqa": ("yes", "no", "maybe"),
    "boolq": ("false", "true"), "obqa": ("A", "B", "C", "D"),
}  # fmt: skip
_REQUIRED = {"classification": ("id", "text", "label"), "qa": ("id", "question", "answer", "target", "text"),
             "instruction": ("id", "input", "output", "text")}  # fmt: skip


@dataclass(frozen=True, eq=False)  # eq=False: comparing DataFrames element-wise has no truth value
class TextDataset:
    """One split as a table; row ``i`` of ``df`` is global index ``i`` (``df.index`` is 0..n-1).

    Treat ``df`` as read-only: :func:`load` hands out shallow copies of a cached table.
    """

    name: str
    split: str
    df: pd.DataFrame
    label_names: tuple[str, ...] | None
    spec: DatasetSpec

    def __len__(self) -> int:
        return len(self.df)

    @property
    def texts(self) -> list[str]:
        """``df["text"]`` as a list, shape (n,)."""
        return self.df["text"].tolist()

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        """``df["label"]``, shape (n,), values in 0..n_classes-1."""
        if "label" not in self.df:
            raise ValueError(
                f"{self.name} has no label column (task {self.spec.task!r}); use df['target'] or df['output']"
            )
        return self.df["label"].to_numpy(dtype=np.int64)

    @property
    def n_classes(self) -> int:
        if self.label_names is None:
            raise ValueError(f"{self.name} has no label set (task {self.spec.task!r})")
        return len(self.label_names)

    def subset(self, idx: npt.ArrayLike) -> TextDataset:
        """Rows ``idx`` (global indices, in the given order), re-indexed 0..k-1; ``id`` is kept."""
        idx = as_indices(idx)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            bad = f"got {idx.min()}..{idx.max()}"
            raise IndexError(f"{self.name}/{self.split}: indices must lie in [0, {len(self)}), {bad}")
        return dataclasses.replace(self, df=self.df.iloc[idx].reset_index(drop=True))

    @functools.cached_property
    def content_hash(self) -> str:
        """:func:`alkit.io.text_hash` of the texts then the gold column (answer, output or label)."""
        gold = next(c for c in ("answer", "output", "label") if c in self.df)
        return text_hash([*self.texts, f"\x01{gold}", *map(str, self.df[gold].tolist())])


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[name]


def dataset_names(task: str | None = None) -> list[str]:
    """Registered names, sorted; only those of ``task`` when given."""
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {list(TASKS)}")
    return sorted(n for n, s in DATASETS.items() if task is None or s.task == task)


def load(name: str, split: str) -> TextDataset:
    """Split ``split`` of dataset ``name`` (local files first, else the Hub; see the module docstring)."""
    spec = get_spec(name)
    if split not in spec.splits:
        raise ValueError(f"unknown split {split!r} of dataset {name!r}; choose from {list(spec.splits)}")
    df, label_names = _load_table(name, split)
    # a shallow copy: with pandas copy-on-write a caller's edits never reach the cached table
    return TextDataset(name, split, df.copy(deep=False), label_names, spec)


def clear_cache() -> None:
    """Forget parsed tables (after changing ``ALKIT_DATA_DIR`` or the files)."""
    _load_table.cache_clear()


def stratified_subsample(ds: TextDataset, n: int, seed: int) -> TextDataset:
    """``n`` rows drawn without replacement, fixed by ``seed``, returned in table order.

    Stratified by label (``train_test_split(stratify=...)``) when ``ds`` has labels and every class
    can be represented (each class >= 2 rows and ``n`` and ``len(ds) - n`` >= number of classes);
    otherwise uniform.
    """
    if not 1 <= n <= len(ds):
        raise ValueError(f"n must lie in [1, {len(ds)}] for {ds.name}/{ds.split}, got {n}")
    if n == len(ds):
        return ds.subset(np.arange(n))
    stratify = None
    if "label" in ds.df:
        counts = np.bincount(ds.labels)
        counts = counts[counts > 0]
        if counts.min() >= 2 and min(n, len(ds) - n) >= counts.size:
            stratify = ds.labels
    chosen_idx, _ = train_test_split(np.arange(len(ds)), train_size=n, random_state=seed, stratify=stratify)
    return ds.subset(np.sort(chosen_idx))


# --- resolution --------------------------------------------------------------------------------


def _hub_disabled() -> bool:
    flags = (os.environ.get(v, "").strip().lower() for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return any(f in {"1", "true", "yes", "on"} for f in flags)


def find_files(name: str) -> Path:
    """The first ``<root>/<spec.folder>`` holding all of ``spec.files``, roots from ``data_roots()``.

    Raises FileNotFoundError listing the files, every root searched (with what is missing there),
    ``ALKIT_DATA_DIR``, and whether :func:`load` can fall back to the Hub.
    """
    spec = get_spec(name)
    roots = paths.data_roots()
    for root in roots:
        if all((root / spec.folder / f).is_file() for f in spec.files):
            return root / spec.folder
    lines = [f"dataset {name!r}: no local copy. Put these files in <root>/{spec.folder}/:"]
    lines += [f"    {f}" for f in spec.files]
    lines.append("where <root> is one of the data roots searched, in order:")
    for root in roots:
        folder = root / spec.folder
        missing = [f for f in spec.files if not (folder / f).is_file()]
        state = f"no folder {spec.folder}" if not folder.is_dir() else f"missing {', '.join(missing)}"
        lines.append(f"    {root}  ({state})")
    lines.append("or set ALKIT_DATA_DIR=<root> (searched first). Sources: shared/data/README.md, SOURCE.txt.")
    if spec.hub_id is None:
        lines.append(f"{name!r} has no Hugging Face Hub fallback.")
    elif _hub_disabled():
        lines.append(f"The Hub fallback ({spec.hub_id}) is off: HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set.")
    else:
        lines.append(f"load() falls back to the Hub ({spec.hub_id}).")
    raise FileNotFoundError("\n".join(lines))


@functools.cache
def _load_table(name: str, split: str) -> Loaded:
    spec = DATASETS[name]
    try:
        folder = find_files(name)
    except FileNotFoundError as missing:
        if spec.hub_id is None or _hub_disabled():
            raise
        try:
            df, label_names = _HUB_READERS[name](split)
        except Exception as exc:
            exc.add_note(str(missing))
            raise
    else:
        df, label_names = _LOCAL_READERS[name](folder, split)
    df = df.reset_index(drop=True)
    absent = [c for c in _REQUIRED[spec.task] if c not in df]
    if absent or not df["id"].is_unique:
        raise ValueError(f"{name}/{split}: bad table (missing columns {absent} or duplicate ids)")
    return df, label_names


# --- shared helpers ----------------------------------------------------------------------------


def _tsv(path: Path, names: Sequence[str] | None = None) -> pd.DataFrame:
    # QUOTE_NONE: quote characters in these files are text; keep_default_na=False: "null" stays a string
    return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, header=None if names else 0, names=names,
                       dtype=str, keep_default_na=False, encoding="utf-8")  # fmt: skip


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


def _codes(values: Sequence[str], names: Sequence[str]) -> npt.NDArray[np.int64]:
    """Label strings -> positions in ``names``; unknown strings raise."""
    lookup = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(values) - lookup.keys())
    if unknown:
        raise ValueError(f"unexpected labels {unknown[:5]}; expected {list(names)}")
    return np.array([lookup[v] for v in values], dtype=np.int64)


def _table(ids: Sequence, texts: Sequence[str], labels: npt.ArrayLike, **columns: Sequence) -> pd.DataFrame:
    data = {"id": [str(i) for i in ids], "text": list(texts), "label": np.asarray(labels, dtype=np.int64)}
    return pd.DataFrame({**data, **{k: list(v) for k, v in columns.items()}})


def _holdout(df: pd.DataFrame, split: str) -> pd.DataFrame:
    train_idx, test_idx = train_test_split(
        np.arange(len(df)),
        test_size=HOLDOUT_TEST_SIZE,
        random_state=HOLDOUT_SEED,
        stratify=df["label"].to_numpy(),
    )
    return df.iloc[np.sort(train_idx if split == "train" else test_idx)].reset_index(drop=True)


def _qnli_table(ids: Sequence, questions: Sequence[str], sentences: Sequence[str], labels) -> pd.DataFrame:
    texts = [f"{q} [SEP] {s}" for q, s in zip(questions, sentences, strict=True)]
    return _table(ids, texts, labels, text_a=questions, text_b=sentences)


def _gold_target(name: str, answer: str) -> str:
    """The canonical short answer of a *gold* answer (model outputs: :mod:`alkit.prompts`)."""
    if name == "gsm8k":
        return answer.rsplit("#### ", 1)[1].strip().replace(",", "")
    if name == "boolq":
        return answer.removeprefix("the correct answer is ").strip()
    return answer.strip()


def _qa_table(name: str, ids: Sequence, questions: Sequence[str], answers: Sequence[str]) -> pd.DataFrame:
    targets = [_gold_target(name, a) for a in answers]
    df = pd.DataFrame({"id": [str(i) for i in ids], "question": list(questions), "answer": list(answers),
                       "target": targets, "text": list(questions)})  # fmt: skip
    if name in _LABEL_NAMES:
        df["label"] = _codes(targets, _LABEL_NAMES[name])
    return df


# --- local readers: (folder, split) -> (table, label names) ------------------------------------

Reader = Callable[[Path, str], Loaded]


def _read_sst2(folder: Path, split: str) -> Loaded:
    raw = _tsv(folder / ("train.tsv" if split == "train" else "dev.tsv"))
    ids = _ids("train" if split == "train" else "dev", len(raw))
    return _table(ids, raw["sentence"], raw["label"].astype(int)), _LABEL_NAMES["sst2"]


def _read_ag_news(folder: Path, split: str) -> Loaded:
    names = tuple(line for line in (folder / "classes.txt").read_text(encoding="utf-8").split("\n") if line)
    if split == "train":
        raw = _tsv(folder / "alps_subset" / "dev.tsv", names=["description", "label"])
        return _table(_ids("alps", len(raw)), raw["description"], _codes(raw["label"], names)), names
    columns = ["class", "title", "description"]
    raw = pd.read_csv(folder / "test.csv", header=None, names=columns, dtype=str, keep_default_na=False)
    return _table(_ids("test", len(raw)), raw["description"], raw["class"].astype(int) - 1), names


def _read_qnli(folder: Path, split: str) -> Loaded:
    raw = _tsv(folder / "dev.tsv")
    labels = _codes(raw["label"], _LABEL_NAMES["qnli"])
    df = _qnli_table(raw["index"], raw["question"], raw["sentence"], labels)
    return _holdout(df, split), _LABEL_NAMES["qnli"]


def _read_trec(fine: bool) -> Reader:
    def read(folder: Path, split: str) -> Loaded:
        file = "train_5500.label" if split == "train" else "TREC_10.label"
        text = (folder / file).read_text(encoding="latin-1")
        # one stray byte (0xf0 in "sister\xf0city") becomes a space, as the Hub's loader does; split
        # on "\n", not splitlines(), which also breaks on latin-1 characters such as \x85
        lines = [line for line in text.replace("\xf0", " ").split("\n") if line]
        tags, texts = zip(*(line.split(" ", 1) for line in lines), strict=True)
        names = _TREC_FINE if fine else _TREC_COARSE
        keys = tags if fine else [t.split(":")[0] for t in tags]
        return _table(_ids(file.split(".")[0], len(lines)), texts, _codes(keys, names)), names

    return read


def _read_banking77(folder: Path, split: str) -> Loaded:
    names = tuple(json.loads((folder / "categories.json").read_text(encoding="utf-8")))
    raw = pd.read_csv(folder / f"{split}.csv", dtype=str, keep_default_na=False)
    return _table(_ids(split, len(raw)), raw["text"], _codes(raw["category"], names)), names


def _read_senteval(name: str) -> Reader:
    def read(folder: Path, split: str) -> Loaded:
        raw = _tsv(folder / f"{name.upper()}.txt", names=["label", "text"])
        df = _table(_ids(name.upper(), len(raw)), raw["text"], raw["label"].astype(int))
        return _holdout(df, split), _LABEL_NAMES[name]

    return read


def _read_financial_phrasebank(folder: Path, split: str) -> Loaded:
    # utf-8-sig drops the BOM; read_text turns the CRLF line ends into "\n"
    text = (folder / "Sentences_50Agree.txt").read_text(encoding="utf-8-sig")
    sentences, labels = zip(*(line.rsplit("@", 1) for line in text.split("\n") if line), strict=True)
    names = _LABEL_NAMES["financial_phrasebank"]
    return _holdout(_table(_ids("fpb", len(sentences)), sentences, _codes(labels, names)), split), names


def _read_pubmedqa(folder: Path, split: str) -> Loaded:
    items = json.loads((folder / "ori_pqal.json").read_text(encoding="utf-8"))
    test_ids = set(json.loads((folder / "test_ground_truth.json").read_text(encoding="utf-8")))
    keep = [pmid for pmid in items if (pmid in test_ids) == (split == "test")]
    names = _LABEL_NAMES["pubmedqa"]
    rows = [items[pmid] for pmid in keep]
    labels = _codes([r["final_decision"] for r in rows], names)
    contexts = ["\n".join(r["CONTEXTS"]) for r in rows]
    long_answers = [r["LONG_ANSWER"] for r in rows]
    questions = [r["QUESTION"] for r in rows]
    return _table(keep, questions, labels, context=contexts, long_answer=long_answers), names


def _read_star(name: str) -> Reader:
    def read(folder: Path, split: str) -> Loaded:
        rows = _jsonl(folder / f"{split}.jsonl")
        questions, answers = [r["question"] for r in rows], [r["answer"] for r in rows]
        return _qa_table(name, _ids(split, len(rows)), questions, answers), _LABEL_NAMES.get(name)

    return read


def niv2_task_index() -> pd.DataFrame:
    """tasks/INDEX.tsv: one row per task file (task, official_split, categories, n_instances,
    kind_guess = "classification"/"generation" from its output label set, source)."""
    return _niv2_index(find_files("niv2"))


def _niv2_index(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "tasks" / "INDEX.tsv", sep="\t", dtype={"n_instances": "int64"},
                       keep_default_na=False, quoting=csv.QUOTE_NONE)  # fmt: skip


def _niv2_official(folder: Path, split: str) -> list[str]:
    return (folder / "splits" / "default" / f"{split}_tasks.txt").read_text(encoding="utf-8").split()


def niv2_missing_tasks(split: str) -> tuple[str, ...]:
    """Tasks of the official default ``split`` list whose files are not in tasks/ (skipped by load)."""
    splits = list(DATASETS["niv2"].splits)
    if split not in splits:
        raise ValueError(f"unknown split {split!r} of dataset 'niv2'; choose from {splits}")
    folder = find_files("niv2")
    present = set(_niv2_index(folder)["task"])
    return tuple(t for t in _niv2_official(folder, split) if t not in present)


def _read_niv2(folder: Path, split: str) -> Loaded:
    index = _niv2_index(folder)
    kind = dict(zip(index["task"], index["kind_guess"], strict=True))
    rows = []
    for task in _niv2_official(folder, split):
        if task not in kind:
            continue  # counted by niv2_missing_tasks
        spec = json.loads((folder / "tasks" / f"{task}.json").read_text(encoding="utf-8"))
        definition = spec["Definition"]
        # Tk-Instruct prompts with the first definition (a list in newer files, a string in older ones)
        definition = definition[0] if isinstance(definition, list) else definition
        keys = ("input", "output", "explanation")
        positives = [{k: ex[k] for k in keys if k in ex} for ex in spec["Positive Examples"]]
        shared = {"task": task, "category": ";".join(spec["Categories"]), "definition": definition}
        for i, inst in enumerate(spec["Instances"]):
            rows.append({
                "id": inst.get("id", f"{task}-{i}"),  # older files have no instance ids
                **shared,
                "input": inst["input"],
                "output": inst["output"][0],
                "outputs": list(inst["output"]),
                "positive_examples": positives,
                "is_classification": kind[task] == "classification",
                "text": inst["input"],
            })  # fmt: skip
    return pd.DataFrame(rows), None


def _read_self_instruct(folder: Path, split: str) -> Loaded:
    seed = split == "seed"
    file = "seed_tasks.jsonl" if seed else "self_instruct_user_oriented_instructions.jsonl"
    rows = []
    for task in _jsonl(folder / file):
        for j, inst in enumerate(task["instances"]):
            text = task["instruction"] + (f"\n\n{inst['input']}" if inst["input"] else "")
            row = {"id": task["id"] if j == 0 else f"{task['id']}-{j}", "instruction": task["instruction"],
                   "input": inst["input"], "output": inst["output"], "text": text}  # fmt: skip
            if seed:
                row |= {"name": task["name"], "is_classification": task["is_classification"]}
            else:
                row["motivation_app"] = task["motivation_app"]
            rows.append(row)
    return pd.DataFrame(rows), None


_LOCAL_READERS: dict[str, Reader] = {
    "sst2": _read_sst2, "ag_news": _read_ag_news, "qnli": _read_qnli,
    "trec": _read_trec(False), "trec_fine": _read_trec(True), "banking77": _read_banking77,
    "mr": _read_senteval("mr"), "subj": _read_senteval("subj"), "cr": _read_senteval("cr"),
    "mpqa": _read_senteval("mpqa"), "financial_phrasebank": _read_financial_phrasebank,
    "pubmedqa": _read_pubmedqa, "boolq": _read_star("boolq"), "obqa": _read_star("obqa"),
    "gsm8k": _read_star("gsm8k"), "niv2": _read_niv2, "self_instruct": _read_self_instruct,
}  # fmt: skip

# --- Hub fallback: split -> (table, label names); cannot run offline, kept minimal ------------


def _hub(name: str, hub_split: str):
    import datasets  # heavy; only on the online path

    spec = DATASETS[name]
    ds = datasets.load_dataset(spec.hub_id, spec.hub_config, split=hub_split)
    return ds.to_pandas(), ds.features


def _hub_concat(name: str, hub_splits: Sequence[str]) -> pd.DataFrame:
    frames = []
    for hub_split in hub_splits:
        raw, _ = _hub(name, hub_split)
        frames.append(raw.assign(_id=_ids(hub_split, len(raw))))
    return pd.concat(frames, ignore_index=True)


def _hub_simple(name: str, test_split: str = "test", text: str = "text") -> Callable:
    """Datasets whose Hub copy has a text column and a ClassLabel ``label`` with our label order."""

    def read(split: str) -> Loaded:
        hub_split = "train" if split == "train" else test_split
        raw, features = _hub(name, hub_split)
        names = _LABEL_NAMES.get(name) or tuple(features["label"].names)
        return _table(_ids(hub_split, len(raw)), raw[text], raw["label"]), names

    return read


def _hub_trec(fine: bool) -> Callable:
    def read(split: str) -> Loaded:
        raw, features = _hub("trec", split)
        coarse = [features["coarse_label"].names[i].split(":")[0] for i in raw["coarse_label"]]
        keys = coarse
        if fine:  # older Hub revisions name fine labels without their coarse prefix ("other" is ambiguous)
            fine_names = [features["fine_label"].names[i] for i in raw["fine_label"]]
            keys = [f if ":" in f else f"{c}:{f}" for c, f in zip(coarse, fine_names, strict=True)]
        names = _TREC_FINE if fine else _TREC_COARSE
        return _table(_ids(split, len(raw)), raw["text"], _codes(keys, names)), names

    return read


def _hub_qnli(split: str) -> Loaded:
    raw, _ = _hub("qnli", "validation")
    df = _qnli_table(raw["idx"], raw["question"], raw["sentence"], raw["label"])
    return _holdout(df, split), _LABEL_NAMES["qnli"]


def _hub_holdout(name: str, hub_splits: Sequence[str], text: str) -> Callable:
    """Datasets we split ourselves: all Hub rows pooled, then the same 80/20 split as the local files."""

    def read(split: str) -> Loaded:
        raw = _hub_concat(name, hub_splits)
        labels = _codes(raw["label_text"], _LABEL_NAMES[name]) if name == "subj" else raw["label"]
        return _holdout(_table(raw["_id"], raw[text], labels), split), _LABEL_NAMES[name]

    return read


def _star_boolq_question(question: str) -> str:
    """STAR's BoolQ prompt around a raw (lower-case, no '?') BoolQ question."""
    prefix = "Please answer the following question with true or false, question: "
    return f"{prefix}{question}?\n\nAnswer format: true/false"


def _star_obqa_question(stem: str, choices: Sequence[str], split: str) -> str:
    """STAR's OBQA prompt; its test file writes "AnswerA: ...", its train file "AnswerA ..."."""
    sep = ": " if split == "test" else " "
    letters = zip("ABCD", choices, strict=True)
    options = "".join(f"\nAnswer{letter}{sep}{choice}" for letter, choice in letters)
    return f"{stem}{options}\nThe correct answer is "


def _hub_boolq(split: str) -> Loaded:
    raw, _ = _hub("boolq", "train" if split == "train" else "validation")
    questions = [_star_boolq_question(q) for q in raw["question"]]
    answers = [f"the correct answer is {str(bool(a)).lower()}" for a in raw["answer"]]
    return _qa_table("boolq", _ids(split, len(raw)), questions, answers), _LABEL_NAMES["boolq"]


def _hub_obqa(split: str) -> Loaded:
    raw, _ = _hub("obqa", split)
    questions = [
        _star_obqa_question(stem, list(choices["text"]), split)
        for stem, choices in zip(raw["question_stem"], raw["choices"], strict=True)
    ]
    return _qa_table("obqa", raw["id"], questions, raw["answerKey"]), _LABEL_NAMES["obqa"]


def _hub_gsm8k(split: str) -> Loaded:
    raw, _ = _hub("gsm8k", split)
    return _qa_table("gsm8k", _ids(split, len(raw)), raw["question"], raw["answer"]), None


_HUB_READERS: dict[str, Callable[[str], Loaded]] = {
    "sst2": _hub_simple("sst2", "validation", text="sentence"),
    "ag_news": _hub_simple("ag_news"),
    "banking77": _hub_simple("banking77"),
    "qnli": _hub_qnli,
    "trec": _hub_trec(False),
    "trec_fine": _hub_trec(True),
    "mr": _hub_holdout("mr", ("train", "validation", "test"), "text"),
    "subj": _hub_holdout("subj", ("train", "test"), "text"),
    "financial_phrasebank": _hub_holdout("financial_phrasebank", ("train",), "sentence"),
    "boolq": _hub_boolq,
    "obqa": _hub_obqa,
    "gsm8k": _hub_gsm8k,
}
