"""alkit: a reproducibility workbench for active learning with language models.

Heavy libraries (torch, transformers, peft) are imported only by the modules that need them, so
that strategy, metric and loop code imports in well under a second.
"""

__version__ = "0.1.0"
