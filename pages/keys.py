"""Every session_state key the app reads or writes itself, named once (a widget's key only passed to the widget
stays beside it). A page script run on its own shows nothing: this module holds names only."""

SETTINGS = "settings"  # this run's Settings, read once by the frame (shared.frame_settings)
ENGINE_RESTARTS_SEEN = "engine_restarts_seen"  # the store's engine restarts this session was told of

# The sidebar's choices, which every page reads
MODEL = "model"  # the model name the sidebar resolved, variant included
LIBRARY = "library"  # the library the sidebar selected
MODEL_CHOICE = "model_choice"  # the model picker's widget
MODEL_HUB_ID = "model_hub_id"
MODEL_DIR = "model_dir"
VARIANT_INT8 = "variant_int8"
VARIANT_DIMS = "variant_dims_{dim}"  # per width, so a narrower model never keeps a wider choice
LIBRARY_CHOICE = "library_choice"  # the library picker's widget
NEW_LIBRARY_NAME = "new_library_name"
NEW_LIBRARY_LANGUAGE = "new_library_language"  # its documents' language, None: detected at the first ingest
LIBRARY_ERROR = "library_error"  # why creating a library failed, shown on the next run

# The ranking controls of Search and Compare (pages/controls.py), one set per page prefix
RANKING_MODE = "{prefix}_mode"
RANKING_FUSION = "{prefix}_fusion"
RANKING_WEIGHT = "{prefix}_weight"
RANKING = (RANKING_MODE, RANKING_FUSION, RANKING_WEIGHT)

# Search
SEARCH_ANSWER = "search_answer"  # the memo of the last submitted question and its answer
SEARCH_DEFAULTS_FOR = "search_defaults_for"  # the library whose recorded hybrid default was applied
SEARCH_VERDICT_FAILED = "search_verdict_failed"  # why the last verdict was not saved, shown once by the page
SEARCH_QUEUED = "search_queued"  # the question submitted while its library loaded: it runs when the load ends
SEARCH_PREFIX = "search"  # its ranking controls: search_mode, search_fusion, search_weight

# Compare
COMPARE_PREFIX = "compare"
COMPARE_MODELS = "compare_models"

# Map
MAP_ANSWER = "map_answer:{model}"  # one memo per model drawn

# Library
UPLOAD_ROUND = "upload_round"  # bumped after indexing: a new uploader key empties the box

# Evaluate
EVALUATE_JOB = "evaluate_job"  # the eval library whose job this session started
EVALUATE_RESULT = "evaluate_result"  # the last finished EvaluationRun, kept after its job is forgotten
EVALUATE_ERROR = "evaluate_error"  # why the last run stopped, kept the same way
EVALUATE_SAVED = "evaluate_saved"  # the SaveOutcome of the last finished run: its saved runs, or why none was kept
EVAL_MODELS = "eval_models"

# Make your own potion
ADAPT_MADE = "adapt_made"  # (job id, name) of the model this session last saw made, picked first for comparing
ADAPT_COMPARE_MODEL = "adapt_compare_model"  # the made model to compare, seeded with the one just made
ADAPT_COMPARE_JOB = "adapt_compare_job"  # (job key, job id) of the comparison this session started
ADAPT_COMPARE_RESULT = "adapt_compare_result"  # the last finished comparison (EvaluationRun), kept after its job
ADAPT_COMPARE_ERROR = "adapt_compare_error"

# Judgments and Costs
JUDGMENTS_REPORT = "judgments_report"
JUDGMENTS_SAVED = "judgments_saved"  # the SaveOutcome of the last evaluation of the judgments
JUDGMENTS_SWEEP = "judgments_sweep"
COST_QUALITY = "cost_quality"  # {library: {model: nDCG@10}} left by the Judgments page for the Costs page

# Query sets
QSETS_CHOICE = "qsets_choice"  # the set picked
QSETS_JOB = "qsets_job"  # the job key of the run this session started
QSETS_RUN = "qsets_run"  # the last finished SetRun, kept after its job is forgotten
QSETS_ERROR = "qsets_error"  # why the last run stopped, kept the same way
QSETS_NOTICE = "qsets_notice"  # what the last making or deleting of a set did, or why it failed, shown once
QSETS_SKIPPED = "qsets_skipped"  # (query, document) pairs passed over by "Skip" in the judging panel

# Runs
RUNS_FILTER = "runs_filter"  # what the history shows: runs evaluated on one collection or library, or "" for every run
RUNS_PICKED = "runs_picked"  # the ids of the runs to compare, A (the baseline) first
RUNS_COMPARED = "runs_compared"  # the memo of the last comparison (shared.once): the picked ids and a RunComparison
RUNS_DETAIL = "runs_detail"  # the id of the run whose facts, exports and delete are shown
RUNS_EXPORTS = "runs_exports"  # the memo of that run's TREC and JSON exports
RUNS_NOTICE = "runs_notice"  # what the last delete did, or why it failed, shown once
