"""The worker pool: claims staged batches, calibrates them and stores their readings."""
