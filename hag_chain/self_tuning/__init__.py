"""``SelfTuning``: a HAG planner choosing another chat model's settings; its targets and the rerouting of bindings."""
