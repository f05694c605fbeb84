"""STAR's prompt templates (Table 4) and answer extraction for GSM8K, BoolQ and OpenBookQA.

The data files are the STAR authors' own (shared/data/star, byte-identical to their repository)
and GSM8K's original jsonl. BoolQ and OBQA questions there are *already* in prompt form:

- BoolQ: ``"Please answer the following question with true or false, question: ...\\n\\nAnswer
  format: true/false"`` -> ``"the correct answer is true|false"`` (no passage).
- OBQA: ``stem + "\\nAnswerA ...\\nAnswerD ...\\nThe correct answer is "`` -> ``"D"``.
- GSM8K: a bare question -> a worked solution ending in ``"#### 72"``.

Table 4 of the paper therefore only adds text for GSM8K (the "think step by step" instruction);
for BoolQ the answer itself carries "the correct answer is", and OBQA's "The correct answer is"
ends the question (the files spell the options ``AnswerA`` where Table 4 prints ``Answer1:``;
we follow the files). Two styles exist:

- ``"paper"`` (default): Table 4 as above.
- ``"code"``: the authors' ``finetuning.py``, which appends the GSM8K instruction to the
  question of *every* dataset (one script serves all three).

Both styles rewrite GSM8K's ``####`` as ``The final answer is`` in the training target, as the
authors' code does; extraction accepts either marker.

Tokenisation boundary: a prompt that ends in spaces (OBQA's ``"... is "``) is returned without
them and the completion gains one leading space (``" D"``), so that byte-level BPE tokenisers
see the usual space-prefixed token, identically in training, scoring and generation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

DATASETS = ("gsm8k", "boolq", "obqa")
STYLES = ("paper", "code")
_ALIASES = {"gsm8k": "gsm8k", "boolq": "boolq", "obqa": "obqa", "openbookqa": "obqa"}

GSM8K_INSTRUCTION = "Answer the above question. First think step by step and then answer the final number."
FINAL_ANSWER = "The final answer is"
BOOLQ_ANSWER_PREFIX = "the correct answer is"
BOOLQ_LABELS = ("true", "false")
OBQA_LABELS = ("A", "B", "C", "D")
DEMO_SEPARATOR = "\n\n"  # between in-context demonstrations (few-shot base model, Fig. 2)


def canonical_dataset(name: str) -> str:
    """``"GSM8K"``, ``"BoolQ"``, ``"OBQA"``/``"openbookqa"`` -> ``gsm8k``/``boolq``/``obqa``."""
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key not in _ALIASES:
        raise ValueError(f"unknown STAR dataset {name!r}; choose from {list(DATASETS)} (or 'openbookqa')")
    return _ALIASES[key]


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; choose from {list(STYLES)}")


def _raw_prompt(dataset: str, question: str, style: str) -> str:
    _check_style(style)
    if dataset == "gsm8k" or style == "code":
        # Table 4 (GSM8K) and finetuning.py's task_prompt are the same string: "\n<instr>\n".
        return f"{question}\n{GSM8K_INSTRUCTION}\n"
    if dataset == "boolq":
        return f"{question}\n"  # the answer line starts "the correct answer is"
    return question  # obqa: the file's question already ends "The correct answer is "


def format_answer(dataset: str, answer: str) -> str:
    """The training target for a gold ``answer`` as stored in the file (GSM8K: ``####`` rewritten)."""
    dataset = canonical_dataset(dataset)
    if dataset == "gsm8k":
        return answer.replace("####", FINAL_ANSWER)
    return answer


def training_pair(dataset: str, question: str, answer: str, *, style: str = "paper") -> tuple[str, str]:
    """``(prompt, completion)`` with the loss on ``completion`` only; ``prompt + completion`` is
    the Table 4 text (up to the moved trailing space, see the module docstring)."""
    dataset = canonical_dataset(dataset)
    raw = _raw_prompt(dataset, question, style)
    prompt = raw.rstrip(" ")
    completion = format_answer(dataset, answer)
    if len(prompt) < len(raw) and not completion.startswith(" "):
        completion = " " + completion
    return prompt, completion


def build_prompt(dataset: str, question: str, *, style: str = "paper") -> str:
    """The text the model continues at inference (identical to the training prompt)."""
    return training_pair(dataset, question, "", style=style)[0]


def few_shot_prompt(
    dataset: str, demos: Sequence[tuple[str, str]], question: str, *, style: str = "paper"
) -> str:
    """``k`` solved demonstrations ``(question, answer)`` then the query prompt (in-context learning).

    Each demonstration is its full Table 4 text; demonstrations are joined by a blank line.
    """
    parts = ["".join(training_pair(dataset, q, a, style=style)) for q, a in demos]
    parts.append(build_prompt(dataset, question, style=style))
    return DEMO_SEPARATOR.join(parts)


def confidence_prefix(dataset: str) -> str:
    """Text appended to a BoolQ prompt before reading p("true") vs p("false") (Eq. 4)."""
    if canonical_dataset(dataset) != "boolq":
        raise ValueError(f"prediction confidence (Eq. 4) is defined for boolq only, not {dataset!r}")
    return BOOLQ_ANSWER_PREFIX


# --- answer extraction --------------------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_GSM8K_MARKER = re.compile(r"####|final answer is|answer is", re.IGNORECASE)
_BOOL_AFTER = re.compile(r"answer is\W*(true|false)\b", re.IGNORECASE)
_BOOL_ANY = re.compile(r"\b(true|false)\b", re.IGNORECASE)
_LETTER_AFTER = re.compile(r"answer is\W*\(?([A-Da-d])(?![A-Za-z])")
_LETTER_PAREN = re.compile(r"\(([A-Da-d])\)")
_LETTER_START_UPPER = re.compile(r"^\W*([A-D])(?![A-Za-z])")
_LETTER_START_LOWER = re.compile(r"^\W*([a-d])(?![A-Za-z\s])")  # "c", "c.", not "a tree"
_LETTER_ANY = re.compile(r"\b([A-D])\b")


def normalize_number(text: str) -> str | None:
    """Canonical decimal string: ``"1,234"`` -> ``"1234"``, ``"72.00"`` -> ``"72"``,
    ``"0.50"`` -> ``"0.5"``, ``"-0"`` -> ``"0"``; ``None`` if ``text`` is not a number."""
    try:
        value = Decimal(_THOUSANDS.sub("", str(text).strip()).rstrip("."))
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def extract_gsm8k(text: str | None) -> str | None:
    """The final number of a GSM8K solution, or ``None`` when the text has no number.

    The first number after the *last* ``####`` / ``final answer is`` / ``answer is`` marker;
    with no marker, the last number in the text (the authors' rule, generalised from their
    single ``"The final answer is "`` split). Thousands separators are dropped first
    (``"1,234"`` -> ``"1234"``); the result is normalised by :func:`normalize_number`.
    """
    if not text:
        return None
    text = _THOUSANDS.sub("", text)
    markers = list(_GSM8K_MARKER.finditer(text))
    if markers:
        after = _NUMBER.findall(text[markers[-1].end() :])
        if after:
            return normalize_number(after[0])
    numbers = _NUMBER.findall(text)
    return normalize_number(numbers[-1]) if numbers else None


def extract_boolq(text: str | None) -> str | None:
    """``"true"``/``"false"`` after "answer is", else the first standalone true/false word
    (any case), else ``None``. "yes"/"no" are *not* mapped: the task's answers are true/false."""
    if not text:
        return None
    match = _BOOL_AFTER.search(text) or _BOOL_ANY.search(text)
    return match.group(1).lower() if match else None


def extract_obqa(text: str | None) -> str | None:
    """A letter ``"A"``..``"D"`` or ``None``, tried in order: after "answer is" (any case,
    optional parenthesis); ``"(b)"``; a leading letter (lowercase only when it stands alone,
    so the article in "a tree" is not read as A); the first standalone capital A-D."""
    if not text:
        return None
    for pattern in (_LETTER_AFTER, _LETTER_PAREN, _LETTER_START_UPPER, _LETTER_START_LOWER, _LETTER_ANY):
        match = pattern.search(text)
        if match:
            return match.group(1).upper()
    return None


_EXTRACTORS = {"gsm8k": extract_gsm8k, "boolq": extract_boolq, "obqa": extract_obqa}


def extract_answer(dataset: str, text: str | None) -> str | None:
    """Canonical short answer from generated (or gold) text; ``None`` when none is found."""
    return _EXTRACTORS[canonical_dataset(dataset)](text)


def canonical_target(dataset: str, target: str) -> str | None:
    """A gold short answer (``alkit.data``'s ``target`` column) in the form extraction returns."""
    dataset = canonical_dataset(dataset)
    if dataset == "gsm8k":
        return normalize_number(target)
    if dataset == "boolq":
        return str(target).strip().lower()
    return str(target).strip().upper()


def answers_match(dataset: str, pred: str | None, target: str) -> bool:
    """Whether an extracted prediction equals the gold target (``None`` never matches)."""
    return pred is not None and pred == canonical_target(dataset, target)
