"""hag-chain training: benchmark tasks, the two-stage configuration search and hyperparameter-aware tuning.

The modules land with issues #4 and #5; the package exists now so that the distribution's layout is fixed.
"""
