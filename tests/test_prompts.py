"""STAR prompt templates (Table 4 / the authors' files) and answer extraction."""

from __future__ import annotations

import json

import pytest

from alkit import prompts as P
from alkit.paths import data_roots

BOOLQ_Q = "Please answer the following question with true or false, question: is the sky blue?\n\nAnswer format: true/false"
OBQA_Q = (
    "Stars are\nAnswerA warm lights\nAnswerB nitrate\nAnswerC gas\nAnswerD lights\nThe correct answer is "
)
GSM_Q = "Tom has 3 apples and buys 4 more. How many apples does he have?"
GSM_A = "He has 3 + 4 = <<3+4=7>>7 apples.\n#### 7"
INSTR = "Answer the above question. First think step by step and then answer the final number."


# --- templates ------------------------------------------------------------------------------------


def test_gsm8k_template_is_table4_and_authors_task_prompt():
    prompt, completion = P.training_pair("gsm8k", GSM_Q, GSM_A)
    assert prompt == GSM_Q + "\n" + INSTR + "\n"
    assert completion == "He has 3 + 4 = <<3+4=7>>7 apples.\nThe final answer is 7"
    assert P.build_prompt("GSM8K", GSM_Q) == prompt


def test_boolq_template_question_newline_answer():
    prompt, completion = P.training_pair("boolq", BOOLQ_Q, "the correct answer is true")
    assert prompt == BOOLQ_Q + "\n"
    assert completion == "the correct answer is true"
    assert prompt + P.confidence_prefix("BoolQ") == BOOLQ_Q + "\nthe correct answer is"


def test_obqa_trailing_space_moves_to_the_completion():
    prompt, completion = P.training_pair("obqa", OBQA_Q, "C")
    assert prompt == OBQA_Q.rstrip(" ") and prompt.endswith("The correct answer is")
    assert completion == " C"
    assert prompt + completion == OBQA_Q + "C"  # the file's text, exactly
    assert P.build_prompt("openbookqa", OBQA_Q) == prompt


def test_code_style_appends_the_gsm8k_instruction_everywhere():
    prompt, completion = P.training_pair("boolq", BOOLQ_Q, "the correct answer is false", style="code")
    assert prompt == BOOLQ_Q + "\n" + INSTR + "\n"
    assert completion == "the correct answer is false"
    assert P.build_prompt("gsm8k", GSM_Q, style="code") == P.build_prompt("gsm8k", GSM_Q)


def test_few_shot_prompt_joins_solved_demonstrations():
    demos = [("Q1?", "the correct answer is true"), ("Q2?", "the correct answer is false")]
    text = P.few_shot_prompt("boolq", demos, "Q3?")
    assert text == "Q1?\nthe correct answer is true\n\nQ2?\nthe correct answer is false\n\nQ3?\n"
    assert P.few_shot_prompt("boolq", [], "Q3?") == P.build_prompt("boolq", "Q3?")


def test_templates_match_the_shared_data_files():
    root = next((r for r in data_roots() if (r / "star" / "OBQA" / "train.jsonl").exists()), None)
    if root is None:
        pytest.skip("shared/data/star not present")
    with open(root / "star" / "OBQA" / "train.jsonl", encoding="utf-8") as fh:
        obqa = json.loads(fh.readline())
    with open(root / "star" / "BoolQ" / "train.jsonl", encoding="utf-8") as fh:
        boolq = json.loads(fh.readline())
    prompt, completion = P.training_pair("obqa", obqa["question"], obqa["answer"])
    assert prompt + completion == obqa["question"] + obqa["answer"]
    assert P.extract_answer("obqa", completion) == obqa["answer"]
    prompt, completion = P.training_pair("boolq", boolq["question"], boolq["answer"])
    assert completion.startswith(P.BOOLQ_ANSWER_PREFIX)
    assert P.extract_answer("boolq", completion) in P.BOOLQ_LABELS


def test_bad_names_raise_with_choices():
    with pytest.raises(ValueError, match="gsm8k"):
        P.canonical_dataset("sst2")
    with pytest.raises(ValueError, match="paper"):
        P.build_prompt("gsm8k", "q", style="chat")
    with pytest.raises(ValueError, match="boolq"):
        P.confidence_prefix("obqa")


# --- extraction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#### 72", "72"),
        ("so 48 + 24 = 72.\n#### 72", "72"),
        ("The answer is 42.", "42"),
        ("The final answer is 1,234", "1234"),
        ("She paid $1,234,567.50 in total", "1234567.5"),
        ("The final answer is -5", "-5"),
        ("The final answer is 3.50 dollars", "3.5"),
        ("It is 72.00", "72"),
        ("first 3 then 7 and finally 10", "10"),  # no marker: the last number
        ("The final answer is 8. Check: 8 * 2 = 16", "8"),  # first number after the marker
        ("1, 2, 3 items", "3"),  # ", " between numbers is not a thousands separator
        ("no number here", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_gsm8k(text, expected):
    assert P.extract_gsm8k(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the correct answer is true", "true"),
        ("the correct answer is false", "false"),
        ("True.", "true"),
        ("false", "false"),
        ("FALSE!", "false"),
        ("It is not true that ... the correct answer is false", "false"),  # after "answer is" wins
        ("the correct answer is", None),
        ("maybe", None),
        ("yes", None),  # not mapped: answers are true/false
        ("untrue", None),  # whole words only
        ("", None),
    ],
)
def test_extract_boolq(text, expected):
    assert P.extract_boolq(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" C", "C"),
        ("D", "D"),
        ("the correct answer is C", "C"),
        ("the correct answer is c", "C"),
        ("The correct answer is (B)", "B"),
        ("(b)", "B"),
        ("c.", "C"),
        ("A tree", "A"),  # a capital at the start is read as the letter
        ("a tree", None),  # the article is not
        ("I think B is right", "B"),
        ("E", None),
        ("", None),
    ],
)
def test_extract_obqa(text, expected):
    assert P.extract_obqa(text) == expected


def test_answers_match_normalises_targets():
    assert P.answers_match("gsm8k", "1234", "1,234")
    assert P.answers_match("gsm8k", "72", "72.0")
    assert not P.answers_match("gsm8k", None, "72")
    assert P.answers_match("boolq", "true", "True")
    assert P.answers_match("obqa", "C", "c")
    assert not P.answers_match("obqa", "C", "D")


def test_normalize_number():
    assert P.normalize_number("007") == "7"
    assert P.normalize_number("-0") == "0"
    assert P.normalize_number("0.50") == "0.5"
    assert P.normalize_number("1e3") == "1000"
    assert P.normalize_number("abc") is None
    assert P.normalize_number("nan") is None
