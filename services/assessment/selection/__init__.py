"""Open selection of advanced models (开门评选): plans, 互置 eligibility,
evaluator pools, verifiable random panels, 差额 scoring, publicity,
objections and a hash-chained audit trail."""
