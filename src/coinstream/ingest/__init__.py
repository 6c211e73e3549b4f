"""Market data into Kafka: sources (CoinGecko, simulated), the keyed idempotent producer, the live
runner, the resumable backfill, the rate limiter and the topic helpers."""
