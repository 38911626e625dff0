"""Which candidates join the pool: quality heuristics, novelty (embeddings or ROUGE-L), an LLM judge.

Each stage keeps a task or rejects it with a reason (`near_duplicate(0.93, of=<id>)`); see pipeline.py.
"""
