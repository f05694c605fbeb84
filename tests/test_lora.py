"""LoraCausalLM mechanics on a tiny random-init Llama with a locally trained tokenizer (offline)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from alkit import lora as L
from alkit import prompts as P

MODEL_ID = "tiny-test-llama"
BOOLQ_ROWS = pd.DataFrame(
    {
        "id": [0, 1, 2],
        "question": [
            "Please answer the following question with true or false, question: is the sky blue?\n\nAnswer format: true/false",
            "Please answer the following question with true or false, question: can fish fly?\n\nAnswer format: true/false",
            "Please answer the following question with true or false, question: is ice cold?\n\nAnswer format: true/false",
        ],
        "answer": ["the correct answer is true", "the correct answer is false", "the correct answer is true"],
        "target": ["true", "false", "true"],
    }
)
SMALL_LORA = L.LoraSettings(rank=4, alpha=8, dropout=0.1, target_modules=("q_proj", "v_proj", "up_proj"))


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = list(BOOLQ_ROWS["question"] + "\n" + BOOLQ_ROWS["answer"]) + [
        "Stars are\nAnswerA warm lights\nAnswerB gas\nAnswerC rock\nAnswerD ice\nThe correct answer is C",
        "Tom has 3 apples and buys 4 more.\nThe final answer is 7",
    ]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "<s>", "</s>"],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


@pytest.fixture(scope="module", autouse=True)
def tiny_base():
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.2,
    )  # the default 0.02 caps tied-embedding logits near uniform
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    L.register_base_model(MODEL_ID, model, tokenizer)
    yield model, tokenizer
    L.clear_base_models()


def _learner(seed=0, adapter="lora", lora=SMALL_LORA, **train):
    settings = {"epochs": 1, "batch_size": 3, "max_new_tokens": 6, "eval_batch_size": 3, **train}
    return L.LoraCausalLM(
        MODEL_ID, "boolq", lora=lora, train=L.TrainSettings(**settings), seed=seed, adapter=adapter
    )


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _randomise_lora_B(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (L.LoraSettings, {"rank": 0}, "rank"),
        (L.LoraSettings, {"dropout": 1.0}, "dropout"),
        (L.LoraSettings, {"target_modules": ()}, "target_modules"),
        (L.LoraSettings, {"init": "orthogonal"}, "gaussian"),
        (L.TrainSettings, {"lr": 0.0}, "lr"),
        (L.TrainSettings, {"epochs": 0}, "epochs"),
        (L.TrainSettings, {"batch_size": 0}, "batch_size"),
        (L.TrainSettings, {"weight_decay_B": -0.1}, "weight_decay_B"),
        (L.TrainSettings, {"lr_schedule": "cyclic"}, "linear"),
        (L.TrainSettings, {"prompt_style": "chat"}, "paper"),
    ],
)
def test_settings_validate(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_paper_defaults():
    lora = L.LoraSettings(
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    assert (lora.rank, lora.alpha, lora.dropout) == (64, 16.0, 0.1)
    assert lora.target_modules == L.PAPER_TARGET_MODULES  # lists become tuples (hashable, frozen)


def test_bad_learner_arguments():
    with pytest.raises(ValueError, match="adapter"):
        _learner(adapter="prefix")
    with pytest.raises(ValueError, match="dtype"):
        L.LoraCausalLM(MODEL_ID, "boolq", dtype="float16")
    with pytest.raises(ValueError, match="gsm8k"):
        L.LoraCausalLM(MODEL_ID, "sst2")
    with pytest.raises(ValueError, match="full"):
        _learner(adapter="full", weight_decay_B=0.5)
    learner = _learner()
    with pytest.raises(ValueError, match="answers"):
        learner.fit(BOOLQ_ROWS, ["the correct answer is true"])
    with pytest.raises(KeyError, match="answer"):
        learner.uncertainty(BOOLQ_ROWS.drop(columns="answer"), "pe")
    with pytest.raises(ValueError, match="me_on"):
        learner.uncertainty(BOOLQ_ROWS, "me", me_on="beam")
    with pytest.raises(ValueError, match="fitted"):
        _learner(adapter="none").fit(BOOLQ_ROWS, BOOLQ_ROWS["answer"])


# --- re-initialisation and weight sharing ------------------------------------------------------------------


def test_fresh_lora_is_seeded():
    a, b, c = _learner(seed=0), _learner(seed=0), _learner(seed=1)
    lora_a = {n: p for n, p in a.model.named_parameters() if "lora_A" in n}
    assert lora_a, "no LoRA A matrices were created"
    for name, param in lora_a.items():
        other_b = dict(b.model.named_parameters())[name]
        other_c = dict(c.model.named_parameters())[name]
        assert torch.equal(param, other_b)
        assert not torch.equal(param, other_c)
    assert all(torch.count_nonzero(p) == 0 for n, p in a.model.named_parameters() if "lora_B" in n)


def test_only_lora_parameters_change_and_base_is_untouched(tiny_base):
    base, _ = tiny_base
    base_before = _snapshot(base)
    learner = _learner(
        epochs=2, lr=1e-2
    )  # 2 steps: step 1 moves B (A's gradient is 0 while B = 0), step 2 both
    before = _snapshot(learner.model)
    learner.fit(BOOLQ_ROWS, BOOLQ_ROWS["answer"])
    after = _snapshot(learner.model)
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    lora_names = {n for n, p in learner.model.named_parameters() if p.requires_grad}
    assert lora_names and all("lora_" in n for n in lora_names)
    assert changed == lora_names
    for name, value in base_before.items():
        assert torch.equal(value, dict(base.named_parameters())[name]), name
    assert len(learner.losses_) == 2 and np.isfinite(learner.losses_).all()


def test_weight_decay_touches_lora_B_only():
    learner = _learner(lr=0.1, weight_decay_B=0.5)
    model = learner.model
    _randomise_lora_B(model)
    optimizer = L.make_optimizer(model, learner.train)
    before = _snapshot(model)
    for param in model.parameters():
        if param.requires_grad:
            param.grad = torch.zeros_like(param)  # isolate the decay: Adam's step is 0 for a 0 gradient
    optimizer.step()
    n_b = 0
    for name, param in model.named_parameters():
        if "lora_B" in name:
            np.testing.assert_allclose(
                param.detach().numpy(), before[name].numpy() * (1 - 0.1 * 0.5), rtol=1e-6
            )
            n_b += 1
        else:
            assert torch.equal(param, before[name]), name
    assert n_b > 0


def test_l2_B_adds_the_coupled_penalty():
    losses = {}
    for l2 in (0.0, 0.3):
        learner = _learner(l2_B=l2)
        _randomise_lora_B(learner.model)
        penalty = (
            0.5
            * 0.3
            * sum(
                float((p.detach() ** 2).sum()) for n, p in learner.model.named_parameters() if "lora_B" in n
            )
        )
        prompts = [learner._encode_prompt(P.build_prompt("boolq", q)) for q in BOOLQ_ROWS["question"]]
        answers = [learner._encode_answer(a, eos=True) for a in BOOLQ_ROWS["answer"]]
        optimizer = L.make_optimizer(learner.model, learner.train)
        learner.model.eval()  # no dropout: the two losses must differ by the penalty only
        losses[l2] = L.train_step(
            learner.model, optimizer, prompts, answers, pad_id=learner.pad_id, train=learner.train
        )
    np.testing.assert_allclose(losses[0.3] - losses[0.0], penalty, rtol=1e-4)


def test_micro_batches_give_the_full_batch_update():
    params = []
    for micro in (None, 1):
        learner = _learner(micro_batch_size=micro, lr=1e-2)
        _randomise_lora_B(learner.model)
        learner.model.eval()
        prompts = [learner._encode_prompt(P.build_prompt("boolq", q)) for q in BOOLQ_ROWS["question"]]
        answers = [learner._encode_answer(a, eos=True) for a in BOOLQ_ROWS["answer"]]
        L.train_step(
            learner.model,
            L.make_optimizer(learner.model, learner.train),
            prompts,
            answers,
            pad_id=learner.pad_id,
            train=learner.train,
        )
        params.append({n: p.detach().clone() for n, p in learner.model.named_parameters() if p.requires_grad})
    for name in params[0]:
        np.testing.assert_allclose(params[0][name].numpy(), params[1][name].numpy(), rtol=1e-4, atol=1e-6)


def test_loss_is_on_answer_tokens_only():
    learner = _learner()
    _randomise_lora_B(learner.model)
    learner.model.eval()
    prompts = [learner._encode_prompt(P.build_prompt("boolq", q)) for q in BOOLQ_ROWS["question"]]
    answers = [learner._encode_answer(a, eos=True) for a in BOOLQ_ROWS["answer"]]
    n_tokens = sum(len(a) for a in answers)
    from alkit.lm_uncertainty import pack_left

    with torch.no_grad():
        loss = L.answer_loss(learner.model, pack_left(prompts, answers, learner.pad_id), n_tokens).item()
        reference = 0.0
        for prompt, answer in zip(prompts, answers, strict=True):
            logits = learner.model(input_ids=torch.tensor([prompt + answer])).logits[0].double()
            log_probs = torch.log_softmax(logits[len(prompt) - 1 : -1], dim=-1)
            reference -= float(log_probs[torch.arange(len(answer)), torch.tensor(answer)].sum())
    np.testing.assert_allclose(loss, reference / n_tokens, rtol=1e-5)


# --- MC dropout ------------------------------------------------------------------------------------------


def test_mc_dropout_activates_lora_dropout_only():
    learner = _learner()
    lora_dropouts = {id(m) for m in L.lora_dropout_modules(learner.model)}
    assert len(lora_dropouts) == 2 * 3  # 2 layers x 3 target modules
    with L.mc_dropout(learner.model, active=True):
        for module in learner.model.modules():
            assert module.training == (id(module) in lora_dropouts)
    with L.mc_dropout(learner.model, active=False):
        assert not any(m.training for m in learner.model.modules())


def test_mc_dropout_samples_differ_only_when_active():
    learner = _learner()
    _randomise_lora_B(learner.model)  # with B = 0 the dropout would have nothing to perturb
    ids = torch.tensor([learner._encode_prompt(P.build_prompt("boolq", BOOLQ_ROWS["question"][0]))])
    outputs = {}
    for active in (True, False):
        with torch.no_grad(), L.mc_dropout(learner.model, active=active):
            outputs[active] = [learner.model(input_ids=ids).logits for _ in range(2)]
    assert not torch.equal(*outputs[True])
    assert torch.equal(*outputs[False])
    pe_1 = learner.uncertainty(BOOLQ_ROWS, "pe", mc_passes=1)
    pe_k = learner.uncertainty(BOOLQ_ROWS, "pe", mc_passes=4)
    assert not np.allclose(pe_1, pe_k)
    np.testing.assert_array_equal(pe_k, learner.uncertainty(BOOLQ_ROWS, "pe", mc_passes=4))  # seeded masks
    with pytest.raises(ValueError, match="LoRA dropout"):
        _learner(adapter="full").uncertainty(BOOLQ_ROWS, "pe", mc_passes=2)


# --- scoring, generation, evaluation ----------------------------------------------------------------------


def test_unfitted_lora_scores_equal_the_base_model():
    fresh, base = _learner(), _learner(adapter="none")
    assert base.n_trainable == 0 and fresh.n_trainable > 0
    for kind, me_on in (("pe", "gold"), ("me", "gold"), ("me", "generated")):
        np.testing.assert_allclose(
            fresh.uncertainty(BOOLQ_ROWS, kind, me_on=me_on),
            base.uncertainty(BOOLQ_ROWS, kind, me_on=me_on),
            rtol=1e-5,
        )


def test_me_on_generated_scores_the_greedy_continuation():
    learner = _learner(max_new_tokens=4)
    _randomise_lora_B(learner.model)
    texts, lengths = learner.generate(BOOLQ_ROWS)
    prompts = [learner._encode_prompt(P.build_prompt("boolq", q)) for q in BOOLQ_ROWS["question"]]
    generated = learner._generate_ids(prompts)
    assert [len(g) for g in generated] == lengths
    from alkit.lm_uncertainty import score_responses

    expected = score_responses(learner.model, prompts, generated, kind="me", pad_id=learner.pad_id)
    np.testing.assert_allclose(learner.uncertainty(BOOLQ_ROWS, "me"), expected, rtol=1e-6)


def test_batched_generation_equals_one_at_a_time():
    batched = _learner(eval_batch_size=3, max_new_tokens=5)
    single = _learner(eval_batch_size=1, max_new_tokens=5)
    for learner in (batched, single):
        _randomise_lora_B(learner.model)
    assert batched.generate(BOOLQ_ROWS) == single.generate(BOOLQ_ROWS)


def test_confidence_is_eq4_at_the_answer_token(tiny_base):
    _, tokenizer = tiny_base
    learner = _learner()
    _randomise_lora_B(learner.model)
    demos = BOOLQ_ROWS.iloc[[1]]
    labels, conf = learner.confidence(BOOLQ_ROWS, demos=demos)
    true_id = tokenizer(" true", add_special_tokens=False)["input_ids"][0]
    false_id = tokenizer(" false", add_special_tokens=False)["input_ids"][0]
    shots = [(demos["question"].iloc[0], demos["answer"].iloc[0])]
    for i, question in enumerate(BOOLQ_ROWS["question"]):
        text = P.few_shot_prompt("boolq", shots, question) + "the correct answer is"
        with torch.no_grad():
            probs = torch.softmax(
                learner.model(input_ids=torch.tensor([tokenizer(text)["input_ids"]])).logits[0, -1], -1
            )
        p_true, p_false = float(probs[true_id]), float(probs[false_id])
        assert labels[i] == ("true" if p_true >= p_false else "false")
        np.testing.assert_allclose(conf[i], max(p_true, p_false), rtol=1e-4)
    with pytest.raises(ValueError, match="boolq"):
        L.LoraCausalLM(MODEL_ID, "obqa", lora=SMALL_LORA).confidence(BOOLQ_ROWS)


def test_fit_then_evaluate_learns_the_training_answers():
    lora = L.LoraSettings(rank=8, alpha=16, dropout=0.0)  # all seven paper target modules
    learner = _learner(lora=lora, epochs=30, lr=3e-2, batch_size=3, max_new_tokens=8)
    before = learner.evaluate(BOOLQ_ROWS)
    learner.fit(BOOLQ_ROWS, BOOLQ_ROWS["answer"])
    assert learner.losses_[-1] < 0.2 * learner.losses_[0]
    result = learner.evaluate(BOOLQ_ROWS)
    assert result["accuracy"] == 1.0 and result["n"] == 3 and result["n_unparsed"] == 0
    assert before["accuracy"] < 1.0
    assert learner.predict(BOOLQ_ROWS) == ["true", "false", "true"]
    # EOS was learned: generation stops right after "the correct answer is true|false"
    texts, lengths = learner.generate(BOOLQ_ROWS)
    assert texts == list(BOOLQ_ROWS["answer"]) and max(lengths) < 8


def test_full_fine_tuning_trains_every_weight_and_leaves_the_base(tiny_base):
    base, _ = tiny_base
    base_before = _snapshot(base)
    learner = _learner(adapter="full", lr=1e-3)
    assert learner.n_trainable == sum(p.numel() for p in base.parameters())
    before = _snapshot(learner.model)
    learner.fit(BOOLQ_ROWS, BOOLQ_ROWS["answer"])
    after = _snapshot(learner.model)
    assert all(not torch.equal(before[n], after[n]) for n in before)
    assert all(torch.equal(v, dict(base.named_parameters())[n]) for n, v in base_before.items())


def test_refit_reinitialises():
    learner = _learner(lr=1e-2)
    learner.fit(BOOLQ_ROWS, BOOLQ_ROWS["answer"])
    first = _snapshot(learner.model)
    learner.fit(BOOLQ_ROWS, BOOLQ_ROWS["answer"])
    second = _snapshot(learner.model)
    assert all(torch.equal(first[n], second[n]) for n in first)  # same seed, same data: same model
