"""optbench's harness: CLI, sweep expansion, the cell runner, records and benchmarks."""
