"""Sources: the registry of published datasets (sources.yaml), their downloads, one reader per
published format, and staging to normalized Parquet files. Imports nothing from stages/ or outputs/."""
