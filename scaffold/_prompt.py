"""Interactive answers through questionary: the terminal front end of `scaffold new`."""

from __future__ import annotations

import shutil
import textwrap
from typing import Any

import questionary

from scaffold.questions import Prompt

__all__ = ["ask"]


def ask(prompt: Prompt) -> Any:
    """Ask one question until the answer passes; raise KeyboardInterrupt when the user aborts.

    A refused answer's problem is printed whole right under the question, wrapped to the
    terminal, and the question is asked again with that answer to edit. (questionary's own
    validation shows the problem in the bottom toolbar: one line, cut at the terminal's width.)
    """
    previous = prompt.default
    while True:
        answer = _question(prompt, previous).unsafe_ask()
        problem = prompt.validate(answer)
        if problem is None:
            break
        _say("!", problem, "fg:ansired")
        previous = answer
    if prompt.multiselect and prompt.choices:
        # Unselecting a pre-selected choice takes its part out of the service: say so.
        before = set(prompt.default or [])
        dropped = [label for label, value in prompt.choices if value in before - set(answer)]
        if dropped:
            _say("-", f"left out: {', '.join(dropped)}", "fg:ansiyellow")
    return answer


def _question(prompt: Prompt, default: Any) -> questionary.Question:
    if prompt.multiselect and prompt.choices:
        selected = set(default or [])
        choices = [
            questionary.Choice(label, value, checked=value in selected)
            for label, value in prompt.choices
        ]
        chosen = [label for label, value in prompt.choices if value in selected]
        return questionary.checkbox(
            prompt.message,
            choices=choices,
            instruction=f"(selected now: {', '.join(chosen) or 'none'}; Space toggles, "
            "Enter accepts)",
        )
    if prompt.choices:
        options = [questionary.Choice(label, value) for label, value in prompt.choices]
        current = next((c for c in options if c.value == default), None)
        return questionary.select(prompt.message, choices=options, default=current)
    return questionary.text(prompt.message, default="" if default is None else str(default))


def _say(mark: str, text: str, style: str) -> None:
    """Print a note under the question, wrapped at the terminal's width, words kept whole."""
    lines = textwrap.wrap(
        text,
        width=max(shutil.get_terminal_size().columns - 1, 20),
        initial_indent=f"  {mark} ",
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    questionary.print("\n".join(lines), style=style)
