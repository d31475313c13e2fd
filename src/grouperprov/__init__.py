"""grouperprov."""
