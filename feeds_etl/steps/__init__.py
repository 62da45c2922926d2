"""One module per asset's work, as plain functions over the lake (no Dagster here): archive -> parse -> clean
-> tags. Each step reads what the one before stored."""
