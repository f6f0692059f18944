"""Air-quality anomaly detection: config, engine, records, service, backtest, simulator, UCI data."""
