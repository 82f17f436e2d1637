"""Read-only queries for reports and dashboards (response and handling times, breaches,
channel-switch handling, satisfaction). Reports arrive with the desk issue."""
