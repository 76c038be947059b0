from __future__ import annotations

import json
import subprocess
import sys

from bot.bank import Bank
from bot.grading import PASS_SCORE, clauses, grade
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT))
from bench.grading_eval import evaluate


def test_correct_partial_wrong_and_off_topic_are_ordered(bank: Bank) -> None:
    q = bank.questions["vanishing-gradients"]
    right = grade(q, "Gradients get tiny as they are multiplied back through many layers, so the early layers "
                     "barely learn; fix it with ReLU, residual connections or batch norm.")
    partial = grade(q, "the gradients shrink going backwards")
    wrong = grade(q, "the gradients explode and grow too large in deep nets")
    off = grade(q, "it depends on the data, you need to tune it")
    assert right.correct and right.score > partial.score > off.score
    assert not partial.correct and partial.label == "partial"
    assert wrong.score <= 0.2 and wrong.misconceptions
    assert off.score < 0.2


def test_negation_flips_a_match(bank: Bank) -> None:
    q = bank.questions["dropout-purpose"]
    yes = grade(q, "it randomly drops neurons during training which reduces overfitting")
    no = grade(q, "it does not drop neurons and it does not reduce overfitting")
    assert yes.correct and not no.correct


def test_claims_bind_to_their_subject(bank: Bank) -> None:
    q = bank.questions["bias-variance"]
    right = grade(q, "High bias means the model underfits because it is too simple, while high variance means it "
                     "overfits; you balance complexity to minimize total error.")
    swapped = grade(q, "High variance means the model underfits because it is too simple, while high bias means "
                       "it overfits; you balance complexity to minimize total error.")
    assert right.correct
    assert not swapped.correct
    assert clauses("Unlike L2, L1 gives sparse weights. Fine") == ["unlike l2", " l1 gives sparse weights", "fine"]


def test_restating_the_question_earns_little(bank: Bank) -> None:
    q = bank.questions["central-limit"]
    assert grade(q, "the central limit theorem says what the central limit theorem says").score < 0.2


def test_repeating_a_wrong_option_does_not_pass(bank: Bank) -> None:
    q = bank.questions["bias-variance"]
    assert q.choices is not None
    verdict = grade(q, q.choices.wrong[0])
    assert not verdict.correct
    assert grade(q, q.choices.correct).score > verdict.score


def test_held_out_answers_separate_correct_from_wrong() -> None:
    """Quality bar on answers written without looking at the key points (tests/data/grading_eval.jsonl)."""
    result = evaluate()
    assert result["answers"] >= 200
    assert result["auc_correct_vs_wrong_and_off_topic"] >= 0.9  # type: ignore[operator]
    assert result["auc_correct_vs_wrong"] >= 0.85  # type: ignore[operator]
    rates = result["pass_rate"]
    assert rates["correct"] >= 0.85 and rates["off_topic"] <= 0.05  # type: ignore[index]
    assert rates["wrong"] <= 0.30  # type: ignore[index]


def test_grade_command_single_and_batch() -> None:
    one = subprocess.run([sys.executable, "-m", "adapters.app", "grade", "bias-variance-tradeoff",
                          "high bias underfits, high variance overfits"], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    verdict = json.loads(one.stdout)
    assert set(verdict) >= {"score", "hit", "missed"}
    lines = "\n".join(json.dumps(x) for x in (
        {"question_id": "bias-variance-tradeoff", "answer": "underfitting vs overfitting"},
        {"question_id": "no-such-id", "answer": "x"},
        {"question_id": "bias-variance-tradeoff", "answer": "no idea"})) + "\nnot json\n"
    batch = subprocess.run([sys.executable, "-m", "adapters.app", "grade", "--batch"], input=lines,
                           capture_output=True, text=True, cwd=ROOT, check=True)
    out = [json.loads(x) for x in batch.stdout.splitlines()]
    assert len(out) == 4
    assert "score" in out[0] and "error" in out[1] and "score" in out[2] and "error" in out[3]
    assert out[0]["score"] > out[2]["score"]
    assert 0 <= out[0]["score"] <= 1 and PASS_SCORE > 0


def test_every_shipped_answer_passes_and_no_wrong_option_does() -> None:
    """The bank and the grader agree: a question's own answer is graded correct, its wrong options are not."""
    from bot.bank import load_bank
    from tests.conftest import SHIPPED_BANK

    bank = load_bank(SHIPPED_BANK)
    failing = [q.id for q in bank.questions.values() if not grade(q, q.answer).correct]
    passing_wrong = [(q.id, w) for q in bank.questions.values() if q.choices
                     for w in q.choices.wrong if grade(q, w).correct]
    assert failing == []
    assert passing_wrong == []


def test_a_reversed_relation_is_not_correct() -> None:
    """A key point said with its direction word turned round (bigger for smaller) casts doubt: an answer
    that would pass is "not sure", and names the point it contradicts."""
    from bot.bank import load_bank
    from tests.conftest import SHIPPED_BANK

    q = load_bank(SHIPPED_BANK).questions["vanishing-gradient-problem-fixes"]
    tail = " as they are multiplied back through many layers, so early layers learn slowly; use ReLU, residual " \
           "connections and batch norm."
    right = grade(q, "Gradients get smaller" + tail)
    turned = grade(q, "Gradients get bigger" + tail)
    assert right.label == "correct"
    assert turned.label == "unsure" and not turned.correct
    assert turned.misconceptions == [q.key_points[0].point]


def test_partly_right_needs_a_key_point(bank: Bank) -> None:
    q = bank.questions["vanishing-gradients"]
    waffle = grade(q, "Deep networks are a key part of modern AI and training them well takes the right tools")
    assert waffle.label == "incorrect"


def test_a_terse_answer_that_makes_some_points_is_partly_right() -> None:
    """"Correct" needs the answer to say enough of the reference's own words (not the question's), unless it
    makes every key point: two of three points in a line of six such words is partly right."""
    from bot.bank import load_bank
    from bot.grading import MIN_SAID
    from tests.conftest import SHIPPED_BANK

    q = load_bank(SHIPPED_BANK).questions["weight-tying-language-models"]
    short = grade(q, "the input embedding and the output layer use the same matrix")
    assert len(short.hit) == 2 and short.label == "partial"
    full = grade(q, "the output layer reuses the input embedding matrix (same weights, transposed), which means "
                    "fewer parameters and some regularization")
    assert full.label == "correct" and len(full.hit) == 3
    tied = grade(q, "tie embeddings: same weights in the output layer, fewer parameters")
    assert tied.label == "correct" and len(set(tied.hit)) == len(q.key_points)  # every point made: no minimum
    assert MIN_SAID > 6


def test_one_key_point_amid_unrelated_talk_is_not_quite(bank: Bank) -> None:
    """Partly right needs a quarter of the answer's own words in the reference: buzzword waffle that brushes
    one key point is not quite, a short answer that makes it is partly right."""
    q = bank.questions["vanishing-gradients"]
    waffle = grade(q, "the gradients shrink, and honestly deep learning is a key part of modern AI: GPUs, cloud "
                      "budgets, frameworks and product teams all matter a lot")
    short = grade(q, "the gradients shrink going backwards")
    assert waffle.hit == short.hit == [q.key_points[0].point]
    assert waffle.label == "incorrect" and short.label == "partial"


def test_opening_with_the_other_choice_is_not_quite() -> None:
    """A closed question's answer opens with its pick ("Yes.", "Absolute."): an answer that opens with the
    other one contradicts it, whatever it says next."""
    from bot.bank import load_bank
    from tests.conftest import SHIPPED_BANK

    bank = load_bank(SHIPPED_BANK)
    q = bank.questions["original-transformer-positional-encoding"]
    body = " fixed sinusoid vectors, one per position, added to the input embeddings before the first layer."
    assert grade(q, "Absolute:" + body).label == "correct"
    turned = grade(q, "Relative:" + body)
    assert turned.label == "incorrect" and turned.misconceptions
    yes_no = bank.questions["autoencoder-nonlinearity"]
    assert grade(yes_no, "No. " + yes_no.answer.split(".", 1)[1]).label == "incorrect"
    assert grade(yes_no, yes_no.answer).label == "correct"


def test_bench_halves_split_the_bank_entries() -> None:
    """grading_eval --halves: the two halves hold disjoint bank entries and every answer once."""
    from bench.grading_eval import half_of

    whole, first, second = evaluate()["answers"], evaluate(half=0)["answers"], evaluate(half=1)["answers"]
    assert first + second == whole and first and second  # type: ignore[operator]
    assert {half_of("bias-variance-tradeoff"), half_of("vanishing-gradient-problem-fixes")} <= {0, 1}


def test_symbols_and_keywords_count_as_words() -> None:
    """Comparisons read as words with the named side as subject ("mean < 60 < mode" says the mean is less and
    the mode greater than 60), XOR's ^= reads as xor, and stopwords the reference writes as keywords in
    capitals (SQL's FROM, WHERE, HAVING) are content words, whatever their case in the answer."""
    from bot.bank import load_bank
    from bot.grading import _compile, symbols, tokens
    from tests.conftest import SHIPPED_BANK

    bank = load_bank(SHIPPED_BANK)
    assert symbols("mean < 60 < mode") == "mean less than 60; mode greater than 60"
    skew = bank.questions["left-skewed-mean-median-mode"]
    assert grade(skew, "the long low tail drags the mean down, so mean < 60 < mode").label == "correct"
    turned = grade(skew, "the long low tail drags the mean down, so mean > 60 > mode")
    assert turned.label != "correct" and turned.misconceptions
    assert "xor" in tokens("a ^= b; b ^= a; a ^= b")
    sql = bank.questions["sql-logical-execution-order"]
    assert {"from", "where", "having"} <= _compile(sql).keep
    assert tokens("from where", _compile(sql).keep) == ["from", "where"] and tokens("from where") == []
    assert tokens("you can't see it") == ["not", "see"]


def test_a_terse_answer_in_the_references_words_is_not_sure_rather_than_not_quite() -> None:
    """A short answer that uses the reference's words, says part of a key point and contradicts nothing is
    "not sure" (the member rates themselves), never "not quite"; short waffle stays "not quite"."""
    from bot.bank import load_bank
    from tests.conftest import SHIPPED_BANK

    q = load_bank(SHIPPED_BANK).questions["k-fold-cross-validation"]
    terse = grade(q, "split the data into k parts and train a model k times")
    assert terse.label == "unsure" and not terse.correct and not terse.misconceptions
    assert grade(q, "it depends on your data, just try it and see").label == "incorrect"


def test_a_property_said_of_another_named_concept_is_not_quite() -> None:
    """Key points that attach properties to named concepts (DDPM/DDIM, round robin/least connections): an
    answer that says a property of the other name is not quite and says which name it used; the same answer
    with the names the right way round is correct."""
    from bot.bank import load_bank
    from tests.conftest import SHIPPED_BANK

    bank = load_bank(SHIPPED_BANK)
    q = bank.questions["ddpm-vs-ddim"]
    right = ("DDPM samples with a stochastic Markov chain, adding random noise at every step, so it needs about "
             "1000 steps. DDIM uses the same trained network with no retraining, but samples deterministically "
             "and can skip steps, so it is much faster; the same noise gives the same image, enabling inversion.")
    swapped = right.replace("DDPM", "X").replace("DDIM", "DDPM").replace("X", "DDIM")
    assert grade(q, right).label == "correct" and not grade(q, right).misconceptions
    verdict = grade(q, swapped)
    assert verdict.label == "incorrect"
    assert any(m.startswith("You said this of DDIM") for m in verdict.misconceptions)
    lb = bank.questions["load-balancing-algorithms"]
    tail = ", and consistent hashing maps a client to the same server for sticky sessions; power of two " \
           "choices uses live load."
    ok = grade(lb, "Round robin cycles through the servers in order, least connections sends each request to "
                   "the server with the fewest active connections" + tail)
    turned = grade(lb, "Round robin sends each request to the server with the fewest active connections, least "
                       "connections cycles through the servers in order" + tail)
    assert ok.label == "correct"
    assert turned.label == "incorrect" and turned.misconceptions == [
        "You said this of Round robin: " + lb.key_points[1].point]


def test_names_and_what_a_claim_is_about() -> None:
    """Names are acronyms (plurals too), capitalised words the entry never writes in lower case and list
    headings; a claim is about the name heading its clause, else the nearest one, not one a list comma or
    many words keep apart."""
    from bot.grading_concepts import about, base, names

    found = names("Static:\n- Round robin: cycle.\nUse Jaccard or cosine, as Networks do", ["networks and DDPMs"])
    assert {"Round robin", "Jaccard", "DDPMs", "Static"} <= set(found) and "Networks" not in found
    assert base("ddpms") == "ddpm" and base("class") == "class"
    clause = range(20)
    assert about([(0, 0, 7)], 2, 3, clause) == 7  # "ddim injects noise"
    assert about([(0, 0, 7)], 2, 3, clause, commas=[1]) == 7  # "round robin, which sends ..."
    assert about([(0, 0, 7)], 4, 5, clause, commas=[2]) is None  # "gaussian mixtures, hmms, missing data"
    assert about([(0, 0, 7)], 9, 10, clause) is None  # too far to be its subject
    assert about([(0, 0, 7), (3, 3, 8)], 5, 6, clause) == 8
    assert about([(0, 0, 7), (3, 3, 8)], 5, 6, clause, colons=[1]) == 7  # "bagging: ... voted (random forest)"
    assert about([(5, 5, 8)], 2, 3, clause) == 8  # "random forest is a classic boosting method"


def test_an_opposite_nearer_to_its_words_turns_a_point_round_and_a_pair_named_together_does_not() -> None:
    """"a small dataset, with a big learning rate" does not say "small learning rate" although both words are
    there; "generator and discriminator" names both sides of a pair and is not a reversal of itself."""
    from bot.bank import load_bank
    from tests.conftest import SHIPPED_BANK

    bank = load_bank(SHIPPED_BANK)
    q = bank.questions["fine-tuning-explained"]
    said = ("Fine-tuning continues training from a pretrained model on a small dataset with a {} learning rate so "
            "the pretrained features are not destroyed; the head is replaced and early layers can stay frozen.")
    assert grade(q, said.format("small")).label == "correct"
    turned = grade(q, said.format("big"))
    assert turned.label != "correct" and q.key_points[1].point in turned.misconceptions
    gan = grade(bank.questions["gans-basics"], "trained against each other: generator turns noise into fake samples, "
                "discriminator tries to tell real vs fake. minimax game, at equilibrium G matches the data distribution")
    assert gan.label == "correct" and not gan.misconceptions


def test_informal_short_forms_read_as_their_words() -> None:
    from bot.grading import tokens

    assert tokens("two nets w/ shared params, w/o a big lr") == tokens(
        "two networks with shared parameters, without a big learning rate")
    assert "not" not in tokens("not only lowers variance but also bias")


def test_a_direction_word_before_another_name_does_not_say_a_reject_phrasing() -> None:
    """"a big teacher ... a smaller student" matches neither "teacher is smaller" nor "smaller teacher" (the
    adjective qualifies the student); saying the teacher is the smaller one still does."""
    from bot.bank import load_bank
    from tests.conftest import SHIPPED_BANK

    q = load_bank(SHIPPED_BANK).questions["knowledge-distillation-teacher-student"]
    tail = (" to mimic it on the teacher's soft outputs with temperature, so dark knowledge about similar "
            "classes carries over and the compact model is cheaper to deploy.")
    right = grade(q, "You take a big, accurate teacher (or an ensemble) and train a smaller student" + tail)
    assert right.label == "correct" and not right.misconceptions
    for wrong in ("You take a teacher that is smaller, and train a big student", "A smaller teacher trains a student"):
        said = grade(q, wrong + tail)
        assert said.label == "incorrect" and said.misconceptions == [q.key_points[0].point]


def test_numbers_are_words_of_their_own() -> None:
    """A decimal is one word (3.5 does not say "5" and "1" of 5.1%); a fraction is one word and also says its
    parts (6/216 says 216 outcomes); a word a phrasing says twice ("6 + 6") needs two places in the answer."""
    from bot.bank import load_bank
    from bot.grading import tokens
    from tests.conftest import SHIPPED_BANK

    assert tokens("about 5.1% and 3.5") == ["5.1", "3.5"]
    assert tokens("6/216 + 6/216, and/or w/o") == ["6/216", "6", "216", "6/216", "6", "216", "not"]
    q = load_bank(SHIPPED_BANK).questions["dice-two-consecutive-threes"]
    assert grade(q, "The mean of a single fair die roll is 3.5, the average of the faces 1 through 6.").label == \
        "incorrect"
    worked = grade(q, "P(33x)=1/36 and P(x33)=1/36 overlap in 333 (1/216): 6/216 + 6/216 - 1/216 = 11/216, about 0.051")
    assert worked.label == "correct"


def test_two_words_said_apart_in_the_other_order_are_another_relation() -> None:
    """"the same value ... the network still learns" does not say "learns the same"; and "different" is a
    direction word (same/different), so "a different gradient" turns "the same gradient" round."""
    from bot.bank import load_bank
    from bot.grading import tokens
    from tests.conftest import SHIPPED_BANK

    assert tokens("different") == tokens("distinct") != tokens("difference")
    q = load_bank(SHIPPED_BANK).questions["random-weight-init-symmetry"]
    wrong = grade(q, "If all weights start at the same value the network still learns fine, because backprop gives "
                     "each neuron a different gradient depending on its position in the layer. We randomize so "
                     "separate runs give different models to ensemble, and the randomness acts as a regularizer.")
    assert wrong.label != "correct" and q.key_points[0].point not in wrong.hit
    right = grade(q, "With equal weights every unit in a layer computes the same output and gets the same gradient, "
                     "so they learn the same feature forever; random init breaks that symmetry so units can learn "
                     "different features.")
    assert right.label == "correct"


def test_typing_slips_read_as_the_entrys_own_words() -> None:
    """"gradeints", "multipled", "layres", "conections" are the entry's words; short words, numbers and
    direction words are never changed ("decreases" does not become "increases")."""
    from bot.bank import load_bank
    from bot.grading import _compile, _spelled
    from tests.conftest import SHIPPED_BANK

    q = load_bank(SHIPPED_BANK).questions["vanishing-gradient-problem-fixes"]
    slipped = grade(q, "Gradeints get smaller as they are multipled back through many layres, so early layers learn "
                       "slowly; use ReLU, residual conections and batch norm.")
    assert slipped.label == "correct" and len(slipped.hit) == len(q.key_points)
    vocabulary = _compile(q).vocabulary
    assert _spelled("gradeint", vocabulary) == "gradient"
    assert _spelled("decreas", ("increas", *vocabulary)) == "decreas"
    assert _spelled("mode", ("model",)) == "mode" and _spelled("12345", ("12346",)) == "12345"


def test_every_held_out_set_keeps_the_issue_targets_pooled() -> None:
    """All held-out sets together (written from the questions alone, entries the dev set does not use): a
    confidently wrong answer is rarely told correct, a correct one almost never told not quite."""
    files = sorted((ROOT / "tests" / "data").glob("grading_eval*.jsonl"))
    assert len(files) >= 4
    told: dict[str, dict[str, float]] = {}
    sizes: dict[str, int] = {}
    for path in files:
        result = evaluate(path)
        n = result["answers"] // 4  # type: ignore[operator]
        for label, verdicts in result["told"].items():  # type: ignore[attr-defined]
            for verdict, share in verdicts.items():
                told.setdefault(label, {}).setdefault(verdict, 0.0)
                told[label][verdict] += share * n
            sizes[label] = sizes.get(label, 0) + n
    share = {label: {v: c / sizes[label] for v, c in verdicts.items()} for label, verdicts in told.items()}
    assert share["wrong"].get("correct", 0) <= 0.05 and share["wrong"].get("incorrect", 0) >= 0.60
    assert share["correct"].get("correct", 0) >= 0.90 and share["correct"].get("incorrect", 0) <= 0.02
    assert share["partial"].get("correct", 0) <= 0.10
