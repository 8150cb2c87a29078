"""The client's commands, one module per area; ``cws.cli`` assembles them."""
