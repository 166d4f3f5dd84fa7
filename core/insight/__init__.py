"""Insight: an indexed library in; what each model costs (costs.py) and a 2-D map of its chunks (projection.py) out."""
