"""Channel adapters: outside payload -> Inbound, Outbound -> outside call. No business
logic here; state changes go through actions."""
