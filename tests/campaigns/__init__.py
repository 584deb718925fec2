"""Cross-cutting campaigns: faults, fuzzing, leaks and the soak, over every registered provider."""
