"""Simulated workspaces with known ground truth, and the evaluations that use them (pure)."""

from app.simulate.sendtime_eval import evaluate, run_simulation
from app.simulate.world import World, make_world

__all__ = ["World", "evaluate", "make_world", "run_simulation"]
