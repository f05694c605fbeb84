"""alkit.data against the real files in shared/data: counts from SOURCE.txt, hand-read rows,
fixed splits, and the resolver's errors."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import time

import numpy as np
import pandas as pd
import pytest

from alkit import data, paths
from alkit.data import DATASETS, dataset_names, find_files, load, stratified_subsample

# Row counts: shared/data/README.md and each SOURCE.txt; the 80/20 splits are ceil(0.2 n) for test.
EXPECTED_ROWS = {
    ("sst2", "train"): 67_349, ("sst2", "test"): 872,
    ("ag_news", "train"): 10_001, ("ag_news", "test"): 7_600,
    ("qnli", "train"): 4_370, ("qnli", "test"): 1_093,
    ("trec", "train"): 5_452, ("trec", "test"): 500,
    ("trec_fine", "train"): 5_452, ("trec_fine", "test"): 500,
    ("banking77", "train"): 10_003, ("banking77", "test"): 3_080,
    ("mr", "train"): 8_529, ("mr", "test"): 2_133,
    ("subj", "train"): 8_000, ("subj", "test"): 2_000,
    ("cr", "train"): 3_019, ("cr", "test"): 755,
    ("mpqa", "train"): 8_484, ("mpqa", "test"): 2_121,
    ("financial_phrasebank", "train"): 3_876, ("financial_phrasebank", "test"): 970,
    ("pubmedqa", "train"): 500, ("pubmedqa", "test"): 500,
    ("boolq", "train"): 9_427, ("boolq", "test"): 3_270,
    ("obqa", "train"): 4_957, ("obqa", "test"): 500,
    ("gsm8k", "train"): 7_473, ("gsm8k", "test"): 1_319,
    ("niv2", "train"): None, ("niv2", "test"): None,  # sum of INDEX.tsv n_instances, checked below
    ("self_instruct", "seed"): 175, ("self_instruct", "eval"): 252,
}  # fmt: skip
ALL_SPLITS = [(name, split) for name, spec in DATASETS.items() for split in spec.splits]
COLUMNS = {
    "classification": {"id", "text", "label"},
    "qa": {"id", "question", "answer", "target", "text"},
    "instruction": {"id", "input", "output", "text"},
}
NIV2_COLUMNS = {"id", "task", "category", "definition", "input", "output", "outputs", "positive_examples",
                "is_classification", "text"}  # fmt: skip


def test_every_split_has_an_expected_count():
    assert set(EXPECTED_ROWS) == set(ALL_SPLITS)


@pytest.mark.parametrize(("name", "split"), ALL_SPLITS)
def test_split_loads_with_documented_columns(name, split):
    ds = load(name, split)
    spec = DATASETS[name]
    df = ds.df
    if EXPECTED_ROWS[(name, split)] is not None:
        assert len(ds) == EXPECTED_ROWS[(name, split)]
    assert COLUMNS[spec.task] <= set(df.columns)
    assert df.index.equals(pd.RangeIndex(len(df)))
    assert df["id"].is_unique and all(isinstance(i, str) for i in df["id"])
    assert all(isinstance(t, str) and t for t in ds.texts)
    if spec.task == "classification" or "label" in df:
        assert df["label"].dtype == np.int64 and ds.labels.dtype == np.int64
        assert ds.labels.min() >= 0 and ds.labels.max() < ds.n_classes == len(ds.label_names)
        if split == "train":  # every class occurs in training data
            assert np.unique(ds.labels).size == ds.n_classes
    if spec.task == "qa":
        assert (df["text"] == df["question"]).all() and df["target"].str.len().min() > 0
        if "label" in df:
            assert [ds.label_names[i] for i in ds.labels] == df["target"].tolist()
    if name == "niv2":
        assert set(df.columns) == NIV2_COLUMNS
        assert (df["output"] == df["outputs"].str[0]).all() and (df["text"] == df["input"]).all()


# Label counts as stated in SOURCE.txt.
CLASS_COUNTS = {
    ("sst2", "train"): {"negative": 29_780, "positive": 37_569},
    ("sst2", "test"): {"negative": 428, "positive": 444},
    ("ag_news", "train"): {"Sci/Tech": 2_538, "World": 2_509, "Business": 2_496, "Sports": 2_458},
    ("ag_news", "test"): {"World": 1_900, "Sports": 1_900, "Business": 1_900, "Sci/Tech": 1_900},
    ("trec", "train"): {"ENTY": 1_250, "HUM": 1_223, "DESC": 1_162, "NUM": 896, "LOC": 835, "ABBR": 86},
    ("trec", "test"): {"DESC": 138, "NUM": 113, "ENTY": 94, "LOC": 81, "HUM": 65, "ABBR": 9},
    ("boolq", "train"): {"true": 5_874, "false": 3_553},
    ("boolq", "test"): {"true": 2_033, "false": 1_237},
    ("obqa", "train"): {"A": 1_378, "B": 1_212, "C": 1_146, "D": 1_221},
    ("obqa", "test"): {"A": 138, "B": 126, "C": 132, "D": 104},
    ("pubmedqa", "test"): {"yes": 276, "no": 169, "maybe": 55},
}  # fmt: skip
# Datasets split by us: label counts over train + test together.
TOTAL_COUNTS = {
    "qnli": {"entailment": 2_702, "not_entailment": 2_761},
    "mr": {"negative": 5_331, "positive": 5_331},
    "subj": {"subjective": 5_000, "objective": 5_000},
    "cr": {"negative": 1_368, "positive": 2_406},
    "mpqa": {"negative": 7_294, "positive": 3_311},
    "financial_phrasebank": {"neutral": 2_879, "positive": 1_363, "negative": 604},
    "pubmedqa": {"yes": 552, "no": 338, "maybe": 110},
}


def _counts(ds) -> dict[str, int]:
    return {ds.label_names[k]: int(v) for k, v in zip(*np.unique(ds.labels, return_counts=True), strict=True)}


@pytest.mark.parametrize(("name", "split"), sorted(CLASS_COUNTS))
def test_class_counts_match_source(name, split):
    assert _counts(load(name, split)) == CLASS_COUNTS[(name, split)]


def test_banking77_and_trec_fine_label_sets():
    train, test = load("banking77", "train"), load("banking77", "test")
    assert train.n_classes == 77 and set(_counts(test).values()) == {40}
    assert min(_counts(train).values()) == 35 and max(_counts(train).values()) == 187
    fine = load("trec_fine", "train")
    assert fine.n_classes == 50 and len(_counts(fine)) == 50
    # fine labels refine the coarse ones row by row
    coarse = load("trec", "train")
    assert [fine.label_names[i].split(":")[0] for i in fine.labels] == [coarse.label_names[i] for i in coarse.labels]


@pytest.mark.parametrize("name", sorted(TOTAL_COUNTS))
def test_own_splits_are_fixed_disjoint_complete_and_stratified(name):
    train, test = load(name, "train"), load(name, "test")
    n_total = sum(TOTAL_COUNTS[name].values())
    assert set(train.df["id"]).isdisjoint(test.df["id"])
    assert len(set(train.df["id"]) | set(test.df["id"])) == n_total
    train_counts, test_counts = _counts(train), _counts(test)
    assert {k: train_counts[k] + test_counts[k] for k in train_counts} == TOTAL_COUNTS[name]
    if name != "pubmedqa":  # pubmedqa uses the official test ids instead
        assert len(test) == math.ceil(0.2 * n_total)
        for label, total in TOTAL_COUNTS[name].items():
            assert abs(test_counts[label] - 0.2 * total) <= 1
    # same rows after re-parsing, each half in file order
    data.clear_cache()
    pd.testing.assert_frame_equal(load(name, "test").df, test.df)
    pd.testing.assert_frame_equal(load(name, "train").df, train.df)
    if name != "pubmedqa":
        rows = [int(i.rsplit("-", 1)[-1]) for i in train.df["id"]]
        assert rows == sorted(rows)


def test_pubmedqa_test_is_the_official_id_list():
    folder = find_files("pubmedqa")
    official = json.loads((folder / "test_ground_truth.json").read_text())
    test = load("pubmedqa", "test")
    assert set(test.df["id"]) == set(official)
    assert dict(zip(test.df["id"], (test.label_names[i] for i in test.labels), strict=True)) == official
    row = test.df.set_index("id").loc["21645374"]
    assert row["text"] == "Do mitochondria play a role in remodelling lace plant leaves during programmed cell death?"
    assert test.label_names[row["label"]] == "yes" and row["context"].count("\n") == 1  # two sections


def _row(name, split, i):
    ds = load(name, split)
    return ds, ds.df.iloc[i]


def test_classification_rows_read_by_hand():
    ds, r = _row("sst2", "test", 0)
    assert r["text"] == "it 's a charming and often affecting journey . " and ds.label_names[r["label"]] == "positive"
    ds, r = _row("sst2", "train", 0)
    assert r["text"] == "hide new secretions from the parental units " and r["label"] == 0
    ds, r = _row("ag_news", "test", 0)  # description only; class "3" = Business
    assert r["text"] == "Unions representing workers at Turner   Newall say they are 'disappointed' after talks with stricken parent firm Federal Mogul."
    assert ds.label_names[r["label"]] == "Business"
    ds, r = _row("ag_news", "train", 0)
    assert r["text"].startswith("p2pnet.net News:- The US Federal Trade Commission") and ds.label_names[r["label"]] == "Sci/Tech"
    ds, r = _row("trec", "train", 0)
    assert r["text"] == "How did serfdom develop in and then leave Russia ?" and ds.label_names[r["label"]] == "DESC"
    ds, r = _row("trec_fine", "test", -1)
    assert r["text"] == "What is e-coli ?" and ds.label_names[r["label"]] == "DESC:def"
    assert "Which city has the oldest relationship as a sister city with Los Angeles ?" in load("trec", "train").texts
    ds, r = _row("banking77", "train", 0)
    assert r["text"] == "I am still waiting on my card?" and ds.label_names[r["label"]] == "card_arrival"
    ds, r = _row("banking77", "test", -1)
    assert r["text"] == "Can the card be mailed and used in Europe?" and ds.label_names[r["label"]] == "country_support"
    fpb = pd.concat([load("financial_phrasebank", s).df for s in ("train", "test")]).set_index("id")
    assert fpb.loc["fpb-0", "text"].startswith("According to Gran ,")  # BOM dropped
    assert fpb.loc["fpb-2", "text"] == ("The international electronic industry company Elcoteq has laid off tens of employees from its "
                                        "Tallinn facility ; contrary to earlier layoffs the company contracted the ranks of its office "
                                        "workers , the daily Postimees reported .")  # fmt: skip
    assert fpb.loc["fpb-2", "label"] == 0  # negative; no "\r" left on the line
    qnli = pd.concat([load("qnli", s).df for s in ("train", "test")]).set_index("id")
    assert qnli.loc["0", "text_a"] == "What came into force after the new constitution was herald?"
    assert qnli.loc["0", "text"] == qnli.loc["0", "text_a"] + " [SEP] " + qnli.loc["0", "text_b"]
    assert qnli.loc["0", "label"] == 0 and qnli.loc["1", "label"] == 1  # entailment, not_entailment


def test_qa_rows_and_targets_read_by_hand():
    ds, r = _row("boolq", "test", -1)
    assert r["question"] == ("Please answer the following question with true or false, question: will there be a season 5 "
                             "of shadowhunters?\n\nAnswer format: true/false")  # fmt: skip
    assert (r["answer"], r["target"], r["label"]) == ("the correct answer is false", "false", 0)
    ds, r = _row("obqa", "test", 0)
    assert r["question"] == (
        "A person wants to start saving money so that they can afford a nice vacation at the end of the year. After "
        "looking over their budget and expenses, they decide the best way to save money is to\nAnswerA: make more "
        "phone calls\nAnswerB: quit eating lunch out\nAnswerC: buy less with monopoly money\nAnswerD: have lunch "
        "with friends\nThe correct answer is "
    )
    assert (r["answer"], r["target"], r["label"]) == ("B", "B", 1)
    gsm = load("gsm8k", "train").df.set_index("id")
    assert gsm.loc["train-345", "answer"].endswith("#### 1,080") and gsm.loc["train-345", "target"] == "1080"
    test = load("gsm8k", "test").df
    assert test["question"].iloc[0].startswith("Janet\u2019s ducks lay 16 eggs per day.")
    assert (test["target"].iloc[0], test["target"].iloc[-1]) == ("18", "14")
    for df in (gsm.reset_index(), test):
        assert all(re.fullmatch(r"-?\d+(\.\d+)?", t) for t in df["target"])
        assert (df["target"] == df["answer"].str.split("#### ").str[-1].str.replace(",", "")).all()


def test_niv2_rows_and_splits():
    folder = find_files("niv2")
    index = data.niv2_task_index().set_index("task")
    train, test = load("niv2", "train"), load("niv2", "test")
    for split, ds in (("train", train), ("test", test)):
        official = (folder / "splits" / "default" / f"{split}_tasks.txt").read_text().split()
        present = [t for t in official if t in index.index]
        assert len(official) == {"train": 756, "test": 119}[split]
        assert len(present) == {"train": 226, "test": 106}[split]
        assert data.niv2_missing_tasks(split) == tuple(t for t in official if t not in index.index)
        assert (index.loc[present, "official_split"] == split).all()
        per_task = ds.df.groupby("task").size()
        assert set(per_task.index) == set(present)
        assert (per_task == index.loc[per_task.index, "n_instances"]).all()
        assert len(ds) == index.loc[present, "n_instances"].sum()
        assert (ds.df["positive_examples"].map(len) >= 2).all()  # the prompt needs two
    assert set(train.df["task"]).isdisjoint(test.df["task"]) and set(train.df["id"]).isdisjoint(test.df["id"])
    r = test.df[test.df["task"] == "task020_mctaco_span_based_question"].iloc[0]
    assert r["id"] == "task020-3b643de54d474381854c2499cd185a74"
    assert r["input"].startswith("Sentence: Jerry goes out to the pier and casts his favorite bait : cheese .")
    assert (r["output"], r["is_classification"], r["category"]) == ("No.", True, "Answerability Classification")
    assert r["definition"].startswith("The answer will be 'yes' if the provided sentence contains an explicit mention")
    assert r["positive_examples"][0]["output"] == "Yes."
    # an older file: string definition, instances without ids
    r = train.df[train.df["task"] == "task130_scan_structured_text_generation_command_action_long"].iloc[0]
    assert r["id"] == "task130_scan_structured_text_generation_command_action_long-0"
    assert r["input"] == "jump around left thrice and turn right twice" and not r["is_classification"]
    assert r["definition"].startswith("Given a command in a limited form of natural language")


def test_self_instruct_rows():
    seed, evals = load("self_instruct", "seed").df, load("self_instruct", "eval").df
    r = seed.iloc[0]
    assert (r["id"], r["name"], r["input"], r["is_classification"]) == ("seed_task_0", "breakfast_suggestion", "", False)
    assert r["text"] == r["instruction"]
    assert seed["is_classification"].sum() == 26
    r = evals.iloc[0]
    assert (r["id"], r["motivation_app"]) == ("user_oriented_task_0", "Grammarly")
    assert r["text"] == r["instruction"] + "\n\n" + r["input"]


def test_unknown_names_and_splits_list_the_choices():
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'.*'ag_news'.*'sst2'"):
        load("nope", "train")
    with pytest.raises(ValueError, match=r"unknown split 'dev'.*\['train', 'test'\]"):
        load("sst2", "dev")
    with pytest.raises(ValueError, match=r"\['seed', 'eval'\]"):
        load("self_instruct", "train")
    with pytest.raises(ValueError, match=r"unknown task 'regression'.*'classification', 'qa', 'instruction'"):
        dataset_names("regression")
    with pytest.raises(ValueError, match=r"\['train', 'test'\]"):
        data.niv2_missing_tasks("dev")
    with pytest.raises(ValueError, match="unknown task"):
        data.DatasetSpec("x", "regression", None, ("train",), "", "x", ("x.txt",))


def test_dataset_names():
    assert dataset_names() == sorted(DATASETS)
    assert dataset_names("qa") == ["boolq", "gsm8k", "obqa"]
    assert dataset_names("instruction") == ["niv2", "self_instruct"]
    assert len(dataset_names("classification")) == 12


@pytest.fixture
def empty_roots(tmp_path, monkeypatch):
    """ALKIT_DATA_DIR and data_roots() point at an empty folder only; the parse cache is cleared."""
    monkeypatch.setenv("ALKIT_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(paths, "data_roots", lambda: [tmp_path])
    data.clear_cache()
    yield tmp_path
    data.clear_cache()


def test_missing_files_offline_say_what_to_put_where(empty_roots):
    with pytest.raises(FileNotFoundError) as err:
        load("sst2", "train")
    message = str(err.value)
    for part in ("'sst2'", "train.tsv", "dev.tsv", str(empty_roots), "no folder sst2", "ALKIT_DATA_DIR",
                 "stanfordnlp/sst2", "HF_HUB_OFFLINE"):  # fmt: skip
        assert part in message, part
    (empty_roots / "sst2").mkdir()
    (empty_roots / "sst2" / "train.tsv").write_text("sentence\tlabel\n")
    with pytest.raises(FileNotFoundError, match="missing dev.tsv"):
        find_files("sst2")


def test_missing_files_without_hub_id_raise_even_online(empty_roots, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    with pytest.raises(FileNotFoundError, match="'cr' has no Hugging Face Hub fallback"):
        load("cr", "train")  # no hub id: fails before any network access


def test_resolution_uses_the_first_root_that_has_every_file(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    for root, label in ((first, 1), (second, 0)):
        (root / "sst2").mkdir(parents=True)
        # a bare double quote is text (QUOTE_NONE), "null" stays a string (keep_default_na=False)
        rows = f'sentence\tlabel\nsays "hi . \t{label}\nnull\t0\n'
        (root / "sst2" / "train.tsv").write_text(rows)
        (root / "sst2" / "dev.tsv").write_text(rows)
    monkeypatch.setattr(paths, "data_roots", lambda: [tmp_path / "empty", first, second])
    data.clear_cache()
    try:
        assert find_files("sst2") == first / "sst2"
        ds = load("sst2", "train")
        assert ds.texts == ['says "hi . ', "null"] and ds.labels.tolist() == [1, 0]
    finally:
        data.clear_cache()


def test_reader_registries_cover_the_specs():
    assert set(data._LOCAL_READERS) == set(DATASETS)
    assert set(data._HUB_READERS) == {n for n, s in DATASETS.items() if s.hub_id is not None}


def test_hub_prompt_builders_reproduce_the_star_files():
    """The Hub fallback rebuilds STAR's prompts from raw BoolQ/OBQA fields: it must give the files' text."""
    boolq = re.compile(r"Please answer the following question with true or false, question: (.*)\?\n\nAnswer format: true/false", re.S)
    for split in ("train", "test"):
        for q in load("boolq", split).df["question"]:
            assert data._star_boolq_question(boolq.fullmatch(q).group(1)) == q
        sep = ": " if split == "test" else " "
        obqa = re.compile(rf"(.*)\nAnswerA{sep}(.*)\nAnswerB{sep}(.*)\nAnswerC{sep}(.*)\nAnswerD{sep}(.*)\nThe correct answer is ", re.S)
        for q in load("obqa", split).df["question"]:
            stem, *choices = obqa.fullmatch(q).groups()
            assert data._star_obqa_question(stem, choices, split) == q


def test_text_dataset_subset_hash_and_isolation():
    ds = load("sst2", "test")
    sub = ds.subset([5, 2, 871])
    assert len(sub) == 3 and sub.df.index.tolist() == [0, 1, 2]
    assert sub.df["id"].tolist() == ["dev-5", "dev-2", "dev-871"]
    assert sub.texts == [ds.texts[5], ds.texts[2], ds.texts[871]] and sub.labels.tolist() == ds.labels[[5, 2, 871]].tolist()
    for bad in ([872], [-1]):
        with pytest.raises(IndexError, match=r"\[0, 872\)"):
            ds.subset(bad)
    assert re.fullmatch(r"[0-9a-f]{16}", ds.content_hash)
    assert load("sst2", "test").content_hash == ds.content_hash
    assert sub.content_hash != ds.content_hash
    flipped = ds.df.assign(label=1 - ds.df["label"])
    assert dataclasses.replace(ds, df=flipped).content_hash != ds.content_hash
    assert load("gsm8k", "test").content_hash != load("gsm8k", "train").content_hash
    ds.df.loc[0, "text"] = "changed"  # a caller's edit must not reach the cache
    assert load("sst2", "test").texts[0] == "it 's a charming and often affecting journey . "
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"
    with pytest.raises(ValueError, match="gsm8k has no label column"):
        load("gsm8k", "test").labels
    with pytest.raises(ValueError, match="niv2 has no label set"):
        load("niv2", "test").n_classes


def test_stratified_subsample():
    ds = load("sst2", "test")  # 428 negative / 444 positive
    sub = stratified_subsample(ds, 100, seed=0)
    counts = np.bincount(sub.labels, minlength=2)
    assert counts.sum() == 100
    for k, total in enumerate((428, 444)):
        assert math.floor(100 * total / 872) <= counts[k] <= math.ceil(100 * total / 872)
    rows = [int(i.split("-")[1]) for i in sub.df["id"]]
    assert rows == sorted(rows) and len(set(rows)) == 100
    assert stratified_subsample(ds, 100, seed=0).df.equals(sub.df)
    assert not stratified_subsample(ds, 100, seed=1).df["id"].equals(sub.df["id"])
    # fewer rows than classes: uniform, still fixed by the seed
    bank = load("banking77", "train")
    assert stratified_subsample(bank, 10, 3).df.equals(stratified_subsample(bank, 10, 3).df)
    assert len(stratified_subsample(load("gsm8k", "test"), 5, 0)) == 5  # no labels: uniform
    assert stratified_subsample(ds, len(ds), 0).df.equals(ds.df)
    for n in (0, len(ds) + 1):
        with pytest.raises(ValueError, match=r"n must lie in \[1, 872\]"):
            stratified_subsample(ds, n, 0)


def test_loads_are_fast_and_cached():
    data.clear_cache()
    start = time.perf_counter()
    load("sst2", "train")
    fresh = time.perf_counter() - start
    start = time.perf_counter()
    load("sst2", "train")
    cached = time.perf_counter() - start
    assert fresh < 5.0 and cached < 0.05, (fresh, cached)  # measured 0.1-0.5 s and ~30 us on 2 cores


def test_source_files_counted_independently():
    """Row counts re-derived with the csv module, not pandas (guards the QUOTE_NONE parsing)."""
    folder = find_files("sst2")
    with open(folder / "train.tsv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows) - 1 == len(load("sst2", "train"))
    assert [r[0] for r in rows[1:]] == load("sst2", "train").texts


class _Names:
    def __init__(self, names):
        self.names = names


def _fake_hub(name, hub_split):
    """Stand-in for datasets.load_dataset(...).to_pandas() with the Hub's column layout."""
    if name == "gsm8k":
        return pd.DataFrame({"question": ["q1"], "answer": ["2 + 2 = <<2+2=4>>4\n#### 1,004"]}), {}
    if name == "boolq":
        return pd.DataFrame({"question": ["is the sky blue"], "answer": [True], "passage": ["p"]}), {}
    if name == "obqa":
        choices = {"text": np.array(["a cat", "a dog", "a cow", "a hen"]), "label": np.array(list("ABCD"))}
        return pd.DataFrame({"id": ["7-980"], "question_stem": ["Which barks"], "choices": [choices], "answerKey": ["B"]}), {}
    if name == "trec":  # an older revision: fine names without the coarse prefix
        raw = pd.DataFrame({"text": ["Who ?", "How ?"], "coarse_label": [1, 0], "fine_label": [1, 0]})
        return raw, {"coarse_label": _Names(["DESC", "HUM"]), "fine_label": _Names(["manner", "ind"])}
    if name == "subj":
        labels = ["objective", "subjective"] * 5
        return pd.DataFrame({"text": [f"{hub_split} {i}" for i in range(10)], "label": [0] * 10, "label_text": labels}), {}
    raise AssertionError(f"unexpected Hub call {name}/{hub_split}")


def test_hub_fallback_maps_onto_the_same_tables(empty_roots, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(data, "_hub", _fake_hub)
    r = load("gsm8k", "test").df.iloc[0]
    assert (r["question"], r["target"]) == ("q1", "1004")
    r = load("boolq", "train").df.iloc[0]
    assert r["question"] == ("Please answer the following question with true or false, question: is the sky blue?"
                             "\n\nAnswer format: true/false")  # fmt: skip
    assert (r["answer"], r["target"], r["label"]) == ("the correct answer is true", "true", 1)
    r = load("obqa", "test").df.iloc[0]
    assert r["question"] == "Which barks\nAnswerA: a cat\nAnswerB: a dog\nAnswerC: a cow\nAnswerD: a hen\nThe correct answer is "
    assert (r["id"], r["target"], r["label"]) == ("7-980", "B", 1)
    fine = load("trec_fine", "train")
    assert [fine.label_names[i] for i in fine.labels] == ["HUM:ind", "DESC:manner"]
    subj = pd.concat([load("subj", s).df for s in ("train", "test")])
    assert len(subj) == 20 and len(load("subj", "test")) == 4 and set(subj["label"]) == {0, 1}


def test_hub_failure_keeps_the_missing_files_message(empty_roots, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)

    def unreachable(name, hub_split):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(data, "_hub", unreachable)
    with pytest.raises(ConnectionError) as err:
        load("gsm8k", "train")
    assert any("train.jsonl" in note and "ALKIT_DATA_DIR" in note for note in err.value.__notes__)
