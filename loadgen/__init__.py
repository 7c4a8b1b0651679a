"""The load generator: workload profiles (no Locust import) and the Locust program that follows them."""
