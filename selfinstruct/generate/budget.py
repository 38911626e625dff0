"""generate.budget: the whole run's teacher spending, in tokens and (at teacher.price) money.

What was spent is read from the rounds' usage stores, the same durable rows that stats.json sums:
it counts every teacher chunk ever committed to the run, across relaunches, so a resumed run goes on
from what it really spent. generate checks it before a round starts (a run already past its budget
stops without starting the engine) and after each batch that leaves the round unfinished. Stopping
there is what a kill at that point would leave: committed chunks and finished rounds stay, and a
relaunch with a higher budget (or none) replays the unfinished round from its stores without asking
the teacher again, then goes on. The budget is left out of the run's fingerprint for that reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config, Price
from ..rundir import RunDir

# The exit code of a generate that stopped at its budget: not an error (2), not done (0).
BUDGET_EXIT = 3


class BudgetSpent(Exception):
    """Raised at a batch boundary once the run's spending reaches generate.budget; str() is the message."""


@dataclass
class Spend:
    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0

    @property
    def tokens(self) -> float:
        return self.prompt_tokens + self.completion_tokens

    def cost(self, price: Price | None) -> float | None:
        if price is None:
            return None
        return (self.prompt_tokens * price.prompt_per_m + self.completion_tokens * price.completion_per_m) / 1e6


def spent(run: RunDir) -> Spend:
    """The teacher tokens of every round of the run, from its usage stores."""
    out = Spend()
    for rnd in run.rounds():
        for row in rnd.usage().values():
            out.prompt_tokens += row.get("prompt_tokens", 0)
            out.completion_tokens += row.get("completion_tokens", 0)
    return out


class Budget:
    def __init__(self, cfg: Config, run: RunDir):
        self.limit, self.price, self.run = cfg.generate.budget, cfg.teacher.price, run

    @property
    def active(self) -> bool:
        return bool(self.limit.tokens or self.limit.cost)

    def check(self, round_n: int, batches_done: int) -> None:
        """Raises BudgetSpent if the run has spent its budget; `batches_done` of round `round_n` are behind it."""
        if not self.active:
            return
        now = spent(self.run)
        cost = now.cost(self.price)
        over_tokens = bool(self.limit.tokens) and now.tokens >= self.limit.tokens
        over_cost = bool(self.limit.cost) and cost is not None and cost >= self.limit.cost
        if over_tokens or over_cost:
            raise BudgetSpent(self._message(now, cost, round_n, batches_done, "tokens" if over_tokens else "cost"))

    def _message(self, now: Spend, cost: float | None, round_n: int, batches_done: int, which: str) -> str:
        where = (
            f"at the start of round {round_n}"
            if batches_done == 0
            else f"in round {round_n} after batch {batches_done}"
        )
        spent_text = f"{now.tokens:,.0f} teacher tokens"
        if cost is not None:
            spent_text += f" ({cost:,.4g} at teacher.price)"
        limit = f"{self.limit.tokens:,} tokens" if which == "tokens" else f"{self.limit.cost:g} (cost)"
        key = f"generate.budget.{which}"
        return (
            f"budget reached {where}: spent {spent_text} of a budget of {limit} ({key}). Everything "
            f"accepted so far is kept; to continue, run the same generate again with a higher budget "
            f"(--set {key}=N) or none ({key}=0): it resumes here without asking the teacher again."
        )
