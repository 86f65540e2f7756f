"""Checking a round handed to `Campaign.tell_many`: every entry at once, before any write."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bo_loop.config import check_int
from bo_loop.exceptions import BoLoopError, InvalidArgumentError
from bo_loop.objective import Objective
from bo_loop.outcomes import Outcomes
from bo_loop.storage.trial_writes import Finish
from bo_loop.trial import TrialState


def parse_round(
    objective: Objective | Outcomes,
    values: object,
    failed: object,
    abandoned: object,
    notes: Mapping[int, str],
) -> list[Finish]:
    """Check every entry of a round given to `Campaign.tell_many`, before anything is written.

    Args:
        objective: The campaign's objective, or its outcomes (checks each value).
        values: ``{number: value}`` or ``(number, value)`` pairs; with several outcomes each
            value is a dict of some or all of them.
        failed: ``{number: reason or None}`` or trial numbers.
        abandoned: As ``failed``.
        notes: ``{number: note}`` for trials of ``values``.

    Returns:
        One `Finish` per trial.

    Raises:
        BoLoopError: one error listing every bad entry (its class when they share one).
    """
    outcomes = objective if isinstance(objective, Outcomes) else Outcomes((objective,))
    items: list[Finish] = []
    problems: list[tuple[str, BoLoopError]] = []
    seen: dict[int, str] = {}

    def entries(arg: object, label: str, pairs: bool) -> list[tuple[object, object]]:
        if isinstance(arg, Mapping):
            return list(arg.items())
        if isinstance(arg, str | bytes) or not isinstance(arg, Iterable):
            kind = "a dict {number: value}" if pairs else "a dict {number: reason}"
            raise InvalidArgumentError(
                f"{label} must be {kind} or a list of "
                f"{'(number, value) pairs' if pairs else 'trial numbers'}, but got {arg!r}."
            )
        out: list[tuple[object, object]] = []
        for entry in arg:
            if not pairs:
                out.append((entry, None))
            elif isinstance(entry, tuple) and len(entry) == 2:
                out.append(entry)
            else:
                raise InvalidArgumentError(
                    f"{label} must hold (number, value) pairs, but got the entry {entry!r}."
                )
        return out

    for label, arg, state in (
        ("values", values, TrialState.COMPLETED),
        ("failed", failed, TrialState.FAILED),
        ("abandoned", abandoned, TrialState.ABANDONED),
    ):
        for raw_number, payload in entries(arg, label, state is TrialState.COMPLETED):
            try:
                number = check_int(raw_number, "trial number", 0)
            except BoLoopError as e:
                problems.append((f"{label} entry {raw_number!r}", e))
                continue
            where = f"trial {number} ({label})"
            if number in seen:
                problems.append((where, InvalidArgumentError(
                    f"A round gives each trial one result, but trial {number} appears "
                    f"twice (in {seen[number]} and in {label})."
                )))  # fmt: skip
                continue
            seen[number] = label
            try:
                if state is TrialState.COMPLETED:
                    note = notes.get(number)
                    if outcomes.is_single:
                        v = outcomes.objectives[0].parse_value(payload)
                        told = Finish(number, state, value=v, reason=note)
                    else:
                        told = Finish(number, state, reason=note,
                                      values=outcomes.parse_values(payload))  # fmt: skip
                    if note is not None and not isinstance(note, str):
                        raise InvalidArgumentError(f"A note must be a string, but got {note!r}.")
                    items.append(told)
                elif payload is not None and not isinstance(payload, str):
                    raise InvalidArgumentError(f"reason must be a string, but got {payload!r}.")
                else:
                    items.append(Finish(number, state, reason=payload))
            except BoLoopError as e:
                problems.append((where, e))
    if len(problems) == 1:
        raise problems[0][1]
    if problems:
        kinds = {type(e) for _, e in problems}
        kind = kinds.pop() if len(kinds) == 1 else InvalidArgumentError
        lines = "".join(f"\n  {where}: {e}" for where, e in problems)
        raise kind(
            f"{len(problems)} entries of the round broke the rules; nothing was recorded:" + lines
        )
    return items
