"""`make bench`: the performance benchmarks (see BENCHMARKS.md and docs/SCALING.md)."""
