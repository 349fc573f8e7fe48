"""Interactive answers through questionary: the terminal front end of `scaffold new`."""

from __future__ import annotations

from typing import Any

import questionary

from scaffold.questions import Prompt

__all__ = ["ask"]


def ask(prompt: Prompt) -> Any:
    """Ask one question in the terminal; raise KeyboardInterrupt when the user aborts."""

    def validate(value: Any) -> bool | str:
        problem = prompt.validate(value)
        return True if problem is None else problem

    if prompt.multiselect and prompt.choices:
        selected = set(prompt.default or [])
        choices = [
            questionary.Choice(label, value, checked=value in selected)
            for label, value in prompt.choices
        ]
        question = questionary.checkbox(prompt.message, choices=choices, validate=validate)
    elif prompt.choices:
        choices = [questionary.Choice(label, value) for label, value in prompt.choices]
        chosen = next((c for c in choices if c.value == prompt.default), None)
        question = questionary.select(prompt.message, choices=choices, default=chosen)
    else:
        text = "" if prompt.default is None else str(prompt.default)
        question = questionary.text(prompt.message, default=text, validate=validate)
    answer = question.unsafe_ask()
    return answer
