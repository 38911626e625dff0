"""generate: the Self-Instruct bootstrapping loop (loop.py), its teacher steps (steps.py), prompts and parsers."""
