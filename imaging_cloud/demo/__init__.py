"""Synthetic patients and studies (no real patient data anywhere) for the demo, the tests and the benchmarks."""
