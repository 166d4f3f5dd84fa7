"""Search: query text in; ranked hits with their scores and the reasons they matched out.

answer.py asks one question (hits, why each matched, coverage, verdicts) for the app and the CLI,
query.py runs dense, keyword and hybrid searches, dense_explain.py splits a cosine over words, keyword_explain.py
splits a BM25 score over query terms, agreement.py compares models' rankings, export.py writes hits as CSV/JSON."""
