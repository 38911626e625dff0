"""Distill: LoRA SFT of the student on accepted tasks (train), its loss per task (hard_examples), eval."""

import os

# Before torch loads its OpenMP runtime: spinning OpenMP threads on a shared CPU (other processes
# busy) made a forward pass 5-10x slower here (3x63 tokens on SmolLM2: 18-27 s vs 2-3 s passive).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
