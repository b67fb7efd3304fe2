"""Evaluation of trained embeddings: AUC (all / seen / unseen), ROC and PR data, ranking
metrics, the results table, and exports of the vectors for other tools."""
