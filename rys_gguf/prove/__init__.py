"""The prove job: check that a scan's winners hold up beyond the small search probes.

``validate`` re-scores the top configs and the baseline on the large probe sets, with paired
bootstrap intervals; ``eval`` runs lm-evaluation-harness tasks on the source and RYS models
through our batched runner as an lm-eval model (``lmeval``), loads the tasks and finds their
shapes (``lmtasks``) and reads lm-eval's results for every task shape it runs (``lmresults``:
filters, rolling log-likelihood, groups).
"""
