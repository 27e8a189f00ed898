"""Object storage behind one small protocol: local filesystem (embedded default) or S3 (MinIO SDK)."""
