"""SQL index: declarative base, engine factory and the per-request unit of work."""
