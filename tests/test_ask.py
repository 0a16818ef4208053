"""``kneerules ask`` through a real pseudo-terminal (pexpect), as a person uses it.

A DVT patient reaches "today" (policy v3's same-day DVT pathway) and is told why; a
footballer's sprain is asked where it hurts and which leg first, then age and sex, and is
done in 15 questions; a patient who answers "don't know" to everything gets the
verdict of a case with nothing in it, every answer kept unknown; a partial case is not
asked again what it records; Ctrl-C leaves cleanly with the answers so far saved; a wrong
answer is asked again; a D-dimer is typed as raised, normal or not had one, never yes or no.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest

from kneerules import Engine
from kneerules.output.patient import CLOT_TODAY, HEADLINE

# Real terminals and browsers: the whole suite (make test), not the fast lane (make check).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
KNEERULES = str(Path(sys.executable).parent / "kneerules")
SPRAIN = ROOT / "tests" / "data" / "ask" / "sprain-partial.json"
# A question ("7. ...") or a checklist item ("   - ..."), each ending in its hint.
PROMPT = re.compile(r"(?:(\d+)\. |   - )([^\r\n]+?) \(([^()\r\n]*don't know)\) > ")
DONE = re.compile(r"(Go to A&E or call 999 now\.|See a doctor [^\r\n]*\.|Get seen by a doctor "
                  r"[^\r\n]*\.|Book an appointment with your GP or a physiotherapist\.)")
NUMBERED = re.compile(r"^(\d+)\. ([^\r\n]+)", re.MULTILINE)


def _ctrl_c_as_in_a_terminal() -> None:
    # A suite run as a background job (`make test &`) ignores SIGINT, and an ignored signal
    # stays ignored across exec: Ctrl-C would never reach the command (each test hung 60 s).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*args: str) -> pexpect.spawn:
    return pexpect.spawn(KNEERULES, ["ask", *args], encoding="utf-8", timeout=60,
                         dimensions=(40, 250), env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
                         preexec_fn=_ctrl_c_as_in_a_terminal)


class Run:
    """What one interview showed: every prompt answered, the questions numbered, the end."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.log = ""
        self.headline = ""
        self.tail = ""

    @property
    def questions(self) -> list[str]:
        """The numbered questions, in order (a checklist is one)."""
        return [text for _, text in NUMBERED.findall(self.log)]


def interview(child: pexpect.spawn, answer: dict[str, str], default: str = "n") -> Run:
    """Answers every prompt (by a phrase of its text, else ``default`` to a yes-or-no
    question and "don't know" to a number or a choice) until the verdict."""
    run = Run()
    while child.expect([PROMPT, DONE]) == 0:
        run.log += child.before + child.after
        text = child.match.group(2)
        run.prompts.append(text)
        otherwise = default if child.match.group(3).startswith("y = yes") else "d"
        child.sendline(next((reply for phrase, reply in answer.items() if phrase in text),
                            otherwise))
        assert len(run.prompts) < 200, "the interview does not end"
    run.log += child.before
    run.headline = child.match.group(1)
    child.expect(pexpect.EOF)
    run.tail = child.before
    child.close()
    return run


def test_a_dvt_patient_is_sent_today_and_told_why(tmp_path: Path) -> None:
    """Calf pain in one leg, a calf clearly bigger and a long flight: the same-day DVT
    pathway (policy v3: today, not an emergency), with the reasons."""
    saved = tmp_path / "case.json"
    child = spawn("--save", str(saved))
    run = interview(child, {"lump at the back of the knee": "n", "feels tight": "n",
                            "back of the knee": "y", "in the calf": "y", "Which leg": "l",
                            "How old": "58", "sex": "m", "suddenly": "g",
                            "calf is clearly bigger": "y", "long journey": "y"})
    assert run.headline == CLOT_TODAY[0]  # D7's same-day wording
    assert child.exitstatus == 0
    assert "Why this answer:" in run.tail
    assert "one calf is clearly bigger than the other" in run.tail
    assert "long journey" in run.tail
    assert run.questions[0].startswith("Where is the pain")
    assert run.questions[1].startswith("Which leg")
    assert "(For a clinician)" not in run.log
    assert "(cm)" not in run.log
    case = json.loads(saved.read_text())
    # a swollen calf in one leg (the side not given counts as one) is enough for today
    assert case.get("side", "left") == "left"
    assert case["findings"]["sign.calf_swelling"] is True
    assert case["findings"]["risk.long_haul_travel"] is True
    assert len(run.questions) <= 20


def test_a_footballers_sprain_is_asked_in_a_clinicians_order() -> None:
    """Where and which leg by question 2, age and sex next, red flags, done in 15 (issue 26:
    39 questions, his age at the 36th; policy v3 adds a measured temperature for a swollen
    knee and how many days ago, which the Ottawa knee rule reads)."""
    child = spawn()
    run = interview(child, {"back of the knee": "y", "Which leg": "r", "How old": "24",
                            "sex": "m", "suddenly": "s", "twisting": "y",
                            "knee is swollen": "y", "unstable": "y", "How many days": "2"})
    assert child.exitstatus == 0
    assert run.headline != HEADLINE["now"]
    first = run.questions
    assert first[0].startswith("Where is the pain")
    assert first[1].startswith("Which leg")
    assert first[2].startswith("How old")
    assert first[3].startswith("What is your sex")
    assert len(first) <= 15
    # The follow-up after an injury comes only once the injury is known.
    assert first.index("How did it start? Answer for each.") < first.index(
        "Since it happened: is any of these so? Answer for each.")
    assert not any("pregnant" in p for p in run.prompts)  # he said male


def test_dont_know_to_everything_keeps_everything_unknown(tmp_path: Path) -> None:
    """Every answer "d": the verdict is that of a case with nothing recorded, nothing false."""
    saved = tmp_path / "case.json"
    child = spawn("--save", str(saved))
    run = interview(child, {}, default="d")
    assert child.exitstatus == 0
    empty = Engine().evaluate({})
    assert run.headline == HEADLINE[empty.triage.timeframe]
    case = json.loads(saved.read_text())
    assert case["findings"] == {}
    assert "patient" not in case
    assert "side" not in case
    assert len(set(run.prompts)) == len(run.prompts)  # don't know is not asked again


def test_a_partial_case_is_not_asked_what_it_records(tmp_path: Path) -> None:
    """From a partial sprain case: nothing it records is asked; the answers are added to it."""
    saved = tmp_path / "case.json"
    child = spawn(str(SPRAIN), "--save", str(saved))
    run = interview(child, {"short of breath": "d"})
    assert child.exitstatus == 0
    assert not any(p.startswith("Which leg") or p.startswith("How old") for p in run.prompts)
    assert not any("a pop or snap" in p for p in run.prompts)  # recorded as false
    case = json.loads(saved.read_text())
    assert case["case_id"] == "ask-sprain-partial"
    start = json.loads(SPRAIN.read_text())["findings"]
    assert set(start) <= set(case["findings"])


def test_ctrl_c_leaves_cleanly_and_keeps_the_answers(tmp_path: Path) -> None:
    """Ctrl-C after the first checklist and the leg: exit 130, no traceback, answers saved."""
    saved = tmp_path / "case.json"
    child = spawn("--save", str(saved))
    for reply in ["y", "y", "n", "n", "l"]:
        child.expect(PROMPT)
        child.sendline(reply)
    child.expect(PROMPT)
    # As a person would: after the prompt, once the program waits for the answer. A
    # Ctrl-C between writing the prompt and the blocking read is lost by CPython's input().
    time.sleep(0.5)
    child.sendintr()
    child.expect(pexpect.EOF)
    output = child.before
    child.close()
    assert child.exitstatus == 130
    assert "Traceback" not in output
    assert "5 answers so far" in output
    case = json.loads(saved.read_text())
    assert case["side"] == "left"
    assert case["findings"] == {"pain.behind_knee": True, "pain.calf": True,
                                "pain.back_of_thigh": False, "pain.behind_kneecap": False}


@pytest.mark.parametrize(("typed", "again"), [("maybe", True), ("7", True), ("no", False)])
def test_an_answer_that_is_not_one_is_asked_again(typed: str, again: bool) -> None:
    """Anything but yes / no / don't know repeats the question; a real answer moves on."""
    child = spawn()
    child.expect(PROMPT)
    first = child.match.group(2)
    child.sendline(typed)
    child.expect(PROMPT)
    assert (child.match.group(2) == first) is again
    time.sleep(0.5)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()


def test_a_raised_d_dimer_is_typed_in_its_own_words(tmp_path: Path) -> None:
    """Both legs after a flight at 63: "n" at the D-dimer is asked again (it would not say
    whether the test was normal or never done); "r" (raised) makes it today."""
    saved = tmp_path / "case.json"
    child = spawn("--save", str(saved))
    answers = {"back of the knee": "y", "in the calf": "y", "Which leg": "b", "How old": "63",
               "sex": "m", "suddenly": "g", "long journey": "y"}
    typed_at_d_dimer = iter(["n", "r"])
    asked_d_dimer, log = 0, ""
    while child.expect([PROMPT, DONE]) == 0:
        log += child.before + child.after
        text, hint = child.match.group(2), child.match.group(3)
        if "blood test for clots" in text:
            asked_d_dimer += 1
            assert hint == "raised / normal / not had one, or d = don't know"
            reply = next(typed_at_d_dimer)
        else:
            reply = next((r for phrase, r in answers.items() if phrase in text),
                         "n" if hint.startswith("y = yes") else "d")
        child.sendline(reply)
        assert len(log) < 100_000, "the interview does not end"
    headline = child.match.group(1)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert asked_d_dimer == 2
    assert "Please answer: raised / normal / not had one" in log
    assert headline == CLOT_TODAY[0]
    assert json.loads(saved.read_text())["findings"]["test.d_dimer_positive"] is True
