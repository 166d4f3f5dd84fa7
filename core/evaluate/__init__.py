"""Evaluate: labelled collections or a library's judgments in; metrics with intervals and paired comparisons out.

runs.py loads BEIR collections, ranks documents and scores them, stats.py gives bootstrap intervals and paired
tests, tuning.py cross-validates the hybrid weight, judgments.py and judgment_files.py keep and move verdicts,
report.py shapes a finished evaluation into the Evaluate page's tables and charts."""
