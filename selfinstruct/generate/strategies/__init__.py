"""The strategies, one module each, registered by name (generate/strategy.py):

- self_instruct: Self-Instruct's numbered task lists continued from in-context seed and generated tasks.
- verified: the same lists under a header that asks for tasks a program can check (verify/).
- evol: Evol-Instruct, an accepted task rewritten in depth or in breadth.
- magpie: Magpie, the user's query written from the teacher's user-turn prefix alone.
- multi_turn: conversations of generate.turns exchanges.
"""
