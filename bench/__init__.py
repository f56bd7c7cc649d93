"""The benchmarks (``semon bench ingest|alerts|fleet|registry``): each measures the system as
users run it, across the packages it drives, and prints a final JSON line. Above the domain
packages, below the composition root (docs/architecture.md)."""
