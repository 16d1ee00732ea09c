"""kbench: a benchmark suite and reproducibility harness for claims in ML papers.

Data flows one way: suite file (kbench.suite) -> runner (kbench.runner, kbench.kinds) ->
result file (kbench.results) -> report or gate.
"""

__version__ = "0.1.0"
