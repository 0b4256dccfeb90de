"""Storage: the SQLite index (index) and the Parquet blobs (blobs)."""
