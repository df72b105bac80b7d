"""Events, metric rollups, the statistics engine and the analyst reports."""
