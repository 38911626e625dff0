"""`selfinstruct eval`: base vs every student of a run on held-out tasks (see command.py)."""
