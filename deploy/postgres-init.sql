-- The lake's catalog beside Dagster's instance (FEEDS_ETL_CATALOG=postgres:dbname=lake ...).
CREATE DATABASE lake OWNER dagster;
