"""Issue 29.1: a check judges only what the student's exercise cell computed in this run.

The student notebook wraps each exercise region in ``with unfinished(label):``; these tests run
such cells with ``exec`` in a namespace, the way the notebook's kernel does, and reproduce the
three cases of the issue (ex-02-count with only ``my_phi_y``, ex-05-control with only
``rcos_claim``, ex-09-next-sig with only ``vocab_small`` and ``B_small``): after an unfinished
stub's check, a partial answer must not be "all answers right".
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from _helpers import course_env  # noqa: F401  (fixture)

from psbook.synthetic import experiments, tasks
from psbook.course.checks import _base, ch02, ch05, ch09


@pytest.fixture(autouse=True)
def _env(course_env):
    """Every test starts from a fresh course-check state (tests/_helpers.course_env)."""


def cell(ns, label, body):
    """Run an exercise region the way the student notebook does."""
    code = (f"from psbook.course.checks import unfinished\nwith unfinished({label!r}):\n"
            + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n")
    exec(compile(code, f"<cell {label}>", "exec"), ns)


def stub(label):
    return f"raise NotImplementedError('exercise {label}: the task')"


def _no_reference_entered(ns, check):
    leaked = [n for n in check.answers if n in ns]
    assert not leaked, f"the check put {leaked} into the student's namespace"


def test_ex02_count_only_my_phi_y_is_not_all_right(capsys):
    t = tasks.f_add(test_frac=0.0)
    ns = {"task": t, "np": np}
    cell(ns, "ex-02-count", stub("ex-02-count"))
    assert "not done yet" in capsys.readouterr().out
    r = ch02.count(ns)
    assert not r and set(r.missing) == set(ch02.count.answers)
    _no_reference_entered(ns, ch02.count)
    sig = t.signatures()
    ns["_phi_y"] = sig.phi_y
    cell(ns, "ex-02-count", "my_phi_y = np.array(_phi_y)")
    r = ch02.count(ns)
    out = capsys.readouterr().out
    assert not r and r.right == ["my_phi_y"] and set(r.missing) == {"my_count", "my_phi_X"}
    assert "1 of 3 answers right" in out and "all answers right" not in out


def test_ex05_control_only_rcos_claim_is_not_all_right(capsys):
    res = experiments.run("f_add", preset="tiny", steps=60)
    ns = {"res": res, "task": res.task, "np": np}
    cell(ns, "ex-05-control", stub("ex-05-control"))
    r = ch05.control(ns)
    assert not r and len(r.missing) == 4
    _no_reference_entered(ns, ch05.control)
    k = res.task.ordered_tokens
    ns["W_keys"], ns["phi_keys"] = res.W_E[k], res.signatures.dense("phi_y", k)
    cell(ns, "ex-05-control", "from psbook.metrics import r_cos\n"
                              "rcos_claim = r_cos(W_keys, phi_keys)")
    r = ch05.control(ns)
    assert not r and r.right == ["rcos_claim"]
    assert set(r.missing) == {"control_kind", "my_control", "rcos_control"}
    assert "all answers right" not in capsys.readouterr().out


def test_ex09_next_sig_only_vocab_and_counts_is_not_all_right(capsys):
    ns = {"np": np}
    cell(ns, "ex-09-next-sig", stub("ex-09-next-sig"))
    assert not ch09.next_sig(ns)
    _no_reference_entered(ns, ch09.next_sig)
    cell(ns, "ex-09-next-sig", """
        words = ch09_text.split()
        vocab_small = sorted(set(words))
        ids = [vocab_small.index(w) for w in words]
        B_small = np.zeros((len(vocab_small), len(vocab_small)))
        for a, b in zip(ids[:-1], ids[1:]):
            B_small[a, b] += 1
        """.replace("ch09_text", repr(ch09.TEXT_SMALL)))
    r = ch09.next_sig(ns)
    assert not r and set(r.right) == {"vocab_small", "B_small"}
    assert set(r.missing) == {"my_next_signatures", "phi_next_small", "varphi_pre_small"}
    assert "all answers right" not in capsys.readouterr().out


def _full_next_sig():
    vocab, s = ch09._small()
    return vocab, s.counts.toarray().astype(float), s.phi_next.toarray(), s.varphi_pre.toarray()


def test_a_cell_that_raises_clears_its_previous_answer():
    vocab, B, phi, pre = _full_next_sig()
    ns = {"_ref": (vocab, B, phi, pre), "_fn": ch09._next_ref}
    cell(ns, "ex-09-next-sig", "my_next_signatures = _fn\n"
                               "vocab_small, B_small, phi_next_small, varphi_pre_small = _ref")
    assert ch09.next_sig(ns)
    with pytest.raises(ZeroDivisionError):
        cell(ns, "ex-09-next-sig", "vocab_small = _ref[0]\nphi_next_small = 1 / 0")
    assert not any(n in ns for n in ch09.next_sig.answers)    # nothing stale is left
    r = ch09.next_sig(ns)
    assert not r and len(r.missing) == len(ch09.next_sig.answers)


def test_an_answer_defined_outside_the_exercise_cell_is_not_credited(capsys):
    vocab, B, phi, pre = _full_next_sig()
    ns = {"_ref": (vocab, B, phi, pre), "_fn": ch09._next_ref}
    cell(ns, "ex-09-next-sig", "my_next_signatures = _fn\nvocab_small, B_small = _ref[:2]")
    ns["phi_next_small"], ns["varphi_pre_small"] = phi.copy(), pre.copy()   # another cell
    r = ch09.next_sig(ns)
    assert not r and set(r.missing) == {"phi_next_small", "varphi_pre_small"}
    assert "not computed by the exercise cell" in capsys.readouterr().out


def test_the_book_and_solution_notebooks_have_no_region_and_are_judged_as_is():
    vocab, B, phi, pre = _full_next_sig()
    ns = {"vocab_small": vocab, "B_small": B, "phi_next_small": phi, "varphi_pre_small": pre,
          "my_next_signatures": ch09._next_ref}
    assert ch09.next_sig(ns)


def test_a_wrong_answer_does_not_print_the_hint_and_hints_are_graded(capsys):
    ns = {"vocab_small": ["x"]}
    assert not ch09.next_sig(ns)
    out = capsys.readouterr().out
    assert "Hint" not in out and "checks.hint('ex-09-next-sig')" in out
    first = _base.hint("ex-09-next-sig")
    second = _base.hint("ex-09-next-sig")
    assert "hint 1 of" in first and "hint 2 of" in second and first != second


def test_reveal_shows_the_code_of_a_function_exercise_and_whole_matrices(capsys):
    from psbook.course.checks import reveal
    reveal("ex-02-rcos", {})
    out = capsys.readouterr().out
    assert "def r_cos" in out and "<function" not in out
    _base._LAST["ex-02-rcos"] = {"my_r_cos": np.arange(81.0).reshape(9, 9) / 7}
    reveal("ex-02-rcos")
    out = capsys.readouterr().out
    assert "..." not in out and "11.4286" in out      # the last entry, 80 / 7: nothing cut


FUNCTION_EXERCISES = {   # implement-then-test: the check calls the student's function
    "ex-02-count": "counting signatures", "ex-02-rcos": "R_cos", "ex-02-rorder": "R_order",
    "ex-03-flow-step": "the flow step", "ex-05-control": "a control",
    "ex-09-next-sig": "next-token signatures", "ex-12-ppmi": "PPMI",
    "ex-13-share": "an intervention", "ex-neighbours": "", "ex-predict-collapse": "",
    "ex-04-c2": "", "ex-04-delay": "", "ex-05-zipf": "", "ex-05-anchors": "a control",
    "ex-06-partial": "", "ex-06-direction": "", "ex-07-energy": "", "ex-08-matched": "",
    "ex-13-chains": "", "ex-11-costs": "", "ex-09-matched": "a control"}


def test_function_exercises_ask_for_a_function_and_compare_it_on_own_inputs():
    from psbook.course.checks import all_checks
    checks_ = all_checks()
    for label in FUNCTION_EXERCISES:
        chk = checks_[label]
        fns = [n for n in chk.answers if n.startswith("my_")]
        assert fns, f"{label} asks for no function"
    assert len(FUNCTION_EXERCISES) >= 20
