"""Statistics over runs (confidence intervals; more comparisons arrive with experiment grids)."""
