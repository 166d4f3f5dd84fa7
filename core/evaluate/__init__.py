"""Evaluate: labelled collections or a library's judgments in; metrics with intervals and paired comparisons out.

datasets.py reads BEIR collections (corpus, queries, qrels), metrics.py computes, names and formats the measures,
ranking.py indexes a corpus and ranks documents by their best chunk, runs.py runs and compares whole evaluations
and results.py holds what they return, stats.py gives bootstrap intervals and paired tests, tuning.py
cross-validates the hybrid weight, judgments.py and judgment_files.py keep and move verdicts, report.py shapes a
finished evaluation into the tables and charts that the Evaluate page and the command line show. saved.py keeps every
run of an evaluation as a SavedRun, run_diff.py compares two query by query, side_by_side.py sets one query's two
rankings side by side with their grades, run_files.py writes runs as TREC run files and JSON, and run_tables.py lays
them out as tables."""
