"""The filter's checks, one small class each, registered by name (filter/check.py). Every module in
this folder is imported when the registry is first read: a check added here is on the day its name is
in `filter.checks`. text.py: the rules on a task's own text; pool.py: what needs the pool or the
held-out tasks; model.py: what asks a model (IFD, the judge, the verifiers)."""
