"""``kneerules ask`` through a real pseudo-terminal (pexpect), as a person uses it.

A DVT interview from nothing reaches "today" (policy v3's same-day DVT pathway); a sprain
interview from a partial case
stops at routine after a few questions; Ctrl-C leaves cleanly with the answers so far
saved; "don't know" is not asked again.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest

from kneerules.output.patient import CLOT_TODAY, HEADLINE

ROOT = Path(__file__).resolve().parent.parent
KNEERULES = str(Path(sys.executable).parent / "kneerules")
SPRAIN = ROOT / "tests" / "data" / "ask" / "sprain-partial.json"
PROMPT = re.compile(r"(\d+)\. (.+?) \(([^()]*don't know)\) > ")
DONE = re.compile(r"(Go to A&E or call 999 now\.|See a doctor [^\r\n]*\.|Get seen by a doctor "
                  r"[^\r\n]*\.|Book an appointment with your GP or a physiotherapist\.)")


def spawn(*args: str) -> pexpect.spawn:
    return pexpect.spawn(KNEERULES, ["ask", *args], encoding="utf-8", timeout=60,
                         dimensions=(40, 200), env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def interview(child: pexpect.spawn, answer: dict[str, str], default: str = "n"
              ) -> tuple[list[str], str]:
    """Answers every question (by a phrase of its text, else ``default``) until the end."""
    asked: list[str] = []
    while child.expect([PROMPT, DONE]) == 0:
        text = child.match.group(2)
        asked.append(text)
        child.sendline(next((reply for phrase, reply in answer.items() if phrase in text),
                            default))
        assert len(asked) < 60, "the interview does not end"
    headline = child.match.group(1)
    child.expect(pexpect.EOF)
    child.close()
    return asked, headline


def test_a_dvt_interview_from_nothing_reaches_today(tmp_path: Path) -> None:
    """Swollen, painful, red calf in the left leg: the interview ends at see a doctor today
    (policy v3: suspected DVT is the same-day pathway, not an emergency)."""
    saved = tmp_path / "case.json"
    child = spawn("--save", str(saved))
    asked, headline = interview(child, {"calf swollen": "y", "Which leg": "l",
                                        "pain lower down, in the calf": "y",
                                        "skin over the painful area red": "y",
                                        "start suddenly": "gradual"})
    assert headline == CLOT_TODAY[0]  # D7's same-day wording, not a routine booking
    assert child.exitstatus == 0
    case = json.loads(saved.read_text())
    # a swollen calf in one leg (the side not given counts as one) is enough for today
    assert case.get("side", "left") == "left"
    assert case["findings"]["sign.calf_swelling"] is True
    fields = sum(1 for name in ("side", "onset") if name in case)
    assert len(asked) == len(case["findings"]) + fields  # every answer kept


def test_a_sprain_interview_stops_at_routine_after_a_few_questions(tmp_path: Path) -> None:
    """From a partial sprain case, three no's and it is routine; don't know is kept unknown."""
    saved = tmp_path / "case.json"
    child = spawn(str(SPRAIN), "--save", str(saved))
    asked, headline = interview(child, {"short of breath": "d"})
    assert headline == HEADLINE["routine"]
    assert child.exitstatus == 0
    assert 1 < len(asked) <= 4
    assert len(set(asked)) == len(asked)  # don't know is not asked again
    case = json.loads(saved.read_text())
    assert "sign.breathlessness" not in case["findings"]
    assert case["case_id"] == "ask-sprain-partial"
    start = json.loads(SPRAIN.read_text())["findings"]
    assert len(case["findings"]) == len(start) + len(asked) - 1


def test_ctrl_c_leaves_cleanly_and_keeps_the_answers(tmp_path: Path) -> None:
    """Ctrl-C at the third question: exit 130, no traceback, both answers in the file."""
    saved = tmp_path / "case.json"
    child = spawn("--save", str(saved))
    replies = ["n", "n"]
    for reply in replies:
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
    assert "2 answers so far" in output
    case = json.loads(saved.read_text())
    assert case["findings"] == {"sign.breathlessness": False, "sign.chest_pain": False}


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
