"""Mining logic and artifact IO. Imports neither torch nor prefect (a test checks this)."""
