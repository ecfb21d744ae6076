"""``ChatHAG`` and its parts: the call's request, the planner (phase 1), precedence, the answer (phase 2), events."""
