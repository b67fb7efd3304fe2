"""Evaluation of trained embeddings: AUC (all / seen / unseen), ROC and PR data, ranking
metrics by exact full-catalog ranking (ranking, ranking_kernels) with bootstrap intervals
(intervals), the report (report), the results table, and exports of the vectors for
other tools."""
