"""Report data for the analyst pages (reads only: rollup tables and definitions)."""
